#include "http2/h2_server.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "config/config.h"
#include "io/timers.h"
#include "mem/memory_budget.h"
#include "net/byte_sink.h"

namespace ringway {
namespace {
constexpr uint32_t kLingerMs = 2000;
// The connection window is consumed as soon as bytes arrive (per-stream windows do
// the back-pressure), so it only needs to be large enough not to throttle.
// Request body bytes read and dropped while a local reply waits for the end of the
// request (the larger of this and stream_buffer_bytes).
constexpr uint64_t kMaxDiscardedRequestBytes = 64ull * 1024 * 1024;
// How long a gRPC local reply waits for the client to finish its request (above).
constexpr uint64_t kGrpcReplyWaitMs = 100;
}  // namespace

// --- stream: responses ---

Http2ServerStream::Http2ServerStream(Http2Server* server, int32_t id) : server_(server), id_(id) {
  reply_timer_.owner = this;
  reply_timer_.callback = [](Timer* t) {
    auto* stream = static_cast<Http2ServerStream*>(t->owner);
    stream->send_deferred_reply();  // the reset with NO_ERROR follows the reply
    stream->server_->request_flush();
  };
}

Http2ServerStream::~Http2ServerStream() {
  server_->context().timers->disarm_timer(&reply_timer_);
  body_.chunks.clear();
  body_.bytes = 0;
  sync_body_charge();
}

void Http2ServerStream::sync_body_charge() {
  MemoryBudget* memory = server_->context().memory;
  if (!memory || body_.bytes == body_charged_) return;
  if (body_.bytes > body_charged_) {
    memory->charge(body_.bytes - body_charged_);
  } else {
    memory->release(body_charged_ - body_.bytes);
  }
  body_charged_ = body_.bytes;
}

void Http2ServerStream::submit_with_body(ResponseHead& head, bool with_body) {
  responded_ = true;
  std::string status = std::to_string(head.status);
  std::string length;
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 2);
  nva.push_back(make_nv(":status", 7, status.data(), status.size()));
  for (const Header& h : head.headers) {
    if (h.name == "content-length") continue;
    nva.push_back(make_nv(h.name, h.value));
  }
  if (head.content_length >= 0) {
    length = std::to_string(head.content_length);
    nva.push_back(make_nv("content-length", 14, length.data(), length.size()));
  }
  nghttp2_data_provider provider;
  provider.source.ptr = &body_;
  provider.read_callback = outbound_body_read;
  int rv = nghttp2_submit_response(server_->session(), id_, nva.data(), nva.size(),
                                   with_body ? &provider : nullptr);
  if (rv != 0) {
    RW_LOG(Debug, "nghttp2_submit_response: %s", nghttp2_strerror(rv));
    nghttp2_submit_rst_stream(server_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  }
  server_->request_flush();
}

void Http2ServerStream::send_response_head(ResponseHead& head, bool end_stream) {
  // A HEAD response ends with its HEADERS frame; the handler stays attached until
  // the upstream says it is done (or the stream closes and resets it).
  if (end_stream) handler_ = nullptr;
  submit_with_body(head, !end_stream && !head_method_);
}

void Http2ServerStream::send_response_data(Slice data) {
  if (body_.bytes == 0) last_sent_ms_ = server_->context().timers->now_ms();
  body_.push(std::move(data));
  sync_body_charge();
  server_->watch_stalls();
  resume_body(server_->session(), id_, body_);
  server_->request_flush();
}

void Http2ServerStream::send_response_end(const HeaderList* trailers) {
  handler_ = nullptr;
  body_.end = true;
  if (trailers && !trailers->empty()) {
    body_.trailers = *trailers;
    body_.has_trailers = true;
  }
  resume_body(server_->session(), id_, body_);
  server_->request_flush();
}

void Http2ServerStream::send_local_reply(ResponseHead& head, Slice body) {
  handler_ = nullptr;
  bool with_body = !body.empty() && !head_method_;
  if (with_body) body_.push(std::move(body));
  sync_body_charge();
  body_.end = true;
  if (!request_ended_) {
    // Answering before the client finished sending is legal (the stream is then
    // reset with NO_ERROR), but clients handle a reply after their upload better
    // (curl 7.88 loses it otherwise), so wait for the end of the request, bounded:
    // request_header_timeout_ms, and for gRPC at most kGrpcReplyWaitMs, since a
    // streaming call may not half-close before it hears back.
    reply_deferred_ = true;
    deferred_head_ = std::move(head);
    uint64_t wait = server_->context().limits->request_header_timeout_ms;
    if (grpc_ && wait > kGrpcReplyWaitMs) wait = kGrpcReplyWaitMs;
    server_->context().timers->arm_timer(&reply_timer_, wait);
    return;
  }
  submit_with_body(head, with_body);
}

void Http2ServerStream::send_deferred_reply() {
  if (!reply_deferred_) return;
  reply_deferred_ = false;
  server_->context().timers->disarm_timer(&reply_timer_);
  submit_with_body(deferred_head_, body_.bytes > 0);
}

void Http2ServerStream::abort_response() {
  handler_ = nullptr;
  nghttp2_submit_rst_stream(server_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  server_->request_flush();
}

void Http2ServerStream::consume_request_bytes(uint32_t bytes) {
  nghttp2_session_consume_stream(server_->session(), id_, bytes);
  server_->request_flush();
}

// --- server ---

Http2Server::Http2Server(const ServerCodecContext& context) : ctx_(context) {
  // Built once (thread-safe static init), read-only afterwards, shared by all shards.
  static nghttp2_session_callbacks* const cb = [] {
    nghttp2_session_callbacks* c;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_frame_callback(c, cb_begin_frame);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(c, cb_invalid_frame_recv);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(c, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, cb_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, cb_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(c, cb_send_data);
    nghttp2_session_callbacks_set_on_frame_send_callback(c, cb_frame_send);
    return c;
  }();

  const GatewayConfig& gw = *ctx_.limits;
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
  nghttp2_session_server_new2(&session_, cb, this, option);
  nghttp2_option_del(option);

  uint32_t window = gw.stream_buffer_bytes > 0x7fffffffu ? 0x7fffffffu : gw.stream_buffer_bytes;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, gw.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, gw.max_header_bytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(gw.connection_window_bytes));

  idle_timer_.callback = on_timer;
  idle_timer_.owner = this;
  settings_timer_.callback = on_settings_timeout;
  settings_timer_.owner = this;
  header_timer_.callback = on_header_timeout;
  header_timer_.owner = this;
  stall_timer_.callback = on_stall_timer;
  stall_timer_.owner = this;
  glitches_.start(gw.http2_max_glitches, ctx_.timers->now_ms());
  update_idle_timer();
  request_flush();
}

Http2Server::~Http2Server() {
  ctx_.timers->disarm_timer(&idle_timer_);
  ctx_.timers->disarm_timer(&settings_timer_);
  ctx_.timers->disarm_timer(&header_timer_);
  ctx_.timers->disarm_timer(&stall_timer_);
  on_connection_closing();
  nghttp2_session_del(session_);  // no callbacks run from here
  while (streams_) {
    Http2ServerStream* s = streams_;
    streams_ = s->next_;
    delete s;
  }
}

void Http2Server::request_flush() { tcp().request_flush(); }

void Http2Server::update_idle_timer() {
  // Re-armed when the last stream closes; while streams are open the timer keeps
  // running and on_timer checks for activity instead (no re-arm per frame).
  if (stream_count_ == 0 || !idle_timer_.armed) {
    last_activity_ms_ = ctx_.timers->now_ms();
    ctx_.timers->arm_timer(&idle_timer_, ctx_.limits->idle_timeout_ms);
  }
}

void Http2Server::on_timer(Timer* timer) {
  auto* s = static_cast<Http2Server*>(timer->owner);
  if (s->closing_) return;
  if (s->stream_count_ != 0) {
    uint64_t now = s->ctx_.timers->now_ms();
    uint64_t idle = s->ctx_.limits->idle_timeout_ms;
    if (now - s->last_activity_ms_ < idle) {
      s->ctx_.timers->arm_timer(&s->idle_timer_, idle - (now - s->last_activity_ms_));
      return;
    }
    RW_LOG(Debug, "client %s: HTTP/2 connection idle with %u open stream(s); closing",
           s->ctx_.info->client_address.c_str(), s->stream_count_);
    s->on_connection_closing();
    s->tcp().abort();
    return;
  }
  nghttp2_submit_goaway(s->session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(s->session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  s->closing_ = true;
  pump_session_output(s->session_, s->tcp());
  s->tcp().close_after_flush(kLingerMs);
}

void Http2Server::terminate(uint32_t code) {
  nghttp2_session_terminate_session(session_, code);
  on_connection_closing();
  pump_session_output(session_, tcp());
  tcp().close_after_flush(kLingerMs);
}

void Http2Server::on_settings_timeout(Timer* timer) {
  auto* s = static_cast<Http2Server*>(timer->owner);
  if (s->closing_) return;
  ++s->ctx_.stats->http2_settings_timeouts;
  RW_LOG(Debug, "client %s: SETTINGS not acknowledged in %u ms; closing",
         s->ctx_.info->client_address.c_str(), s->ctx_.limits->settings_ack_timeout_ms);
  s->terminate(NGHTTP2_SETTINGS_TIMEOUT);
}

void Http2Server::on_header_timeout(Timer* timer) {
  auto* s = static_cast<Http2Server*>(timer->owner);
  if (s->closing_) return;
  ++s->ctx_.stats->http2_header_timeouts;
  RW_LOG(Debug, "client %s: header block not finished in %u ms; closing",
         s->ctx_.info->client_address.c_str(), s->ctx_.limits->request_header_timeout_ms);
  s->terminate(NGHTTP2_ENHANCE_YOUR_CALM);
}

bool Http2Server::recently_reset(int32_t stream_id) const {
  for (int32_t id : reset_ids_) {
    if (id == stream_id) return true;
  }
  return false;
}

bool Http2Server::glitch() {
  ++ctx_.stats->http2_glitches;
  if (glitches_.take(ctx_.timers->now_ms(), ctx_.limits->http2_max_glitches,
                     ctx_.limits->http2_glitch_refill_per_s)) {
    return true;
  }
  if (!calmed_) {
    calmed_ = true;
    ++ctx_.stats->http2_calm_goaways;
    RW_LOG(Debug, "client %s: HTTP/2 misbehaviour budget spent; GOAWAY(ENHANCE_YOUR_CALM)",
           ctx_.info->client_address.c_str());
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  }
  return false;
}

size_t Http2Server::on_recv(const char* data, size_t len) {
  if (closing_) return len;
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  if (rv < 0) {
    RW_LOG(Debug, "client %s: HTTP/2 error: %s", ctx_.info->client_address.c_str(),
           nghttp2_strerror(static_cast<int>(rv)));
    if (!calmed_) ++ctx_.stats->malformed_requests;
    // nghttp2 has queued a GOAWAY where the error allows: send it, then close.
    pump_session_output(session_, tcp());
    on_connection_closing();
    tcp().close_after_flush(kLingerMs);
    return len;
  }
  request_flush();
  return len;
}

void Http2Server::on_recv_end(int) {
  on_connection_closing();
  tcp().abort();
}

void Http2Server::on_credit(uint32_t credit_id, uint32_t bytes) {
  last_activity_ms_ = ctx_.timers->now_ms();  // the client reads: progress
  auto* stream = static_cast<Http2ServerStream*>(
      nghttp2_session_get_stream_user_data(session_, static_cast<int32_t>(credit_id)));
  if (!stream) return;
  stream->last_sent_ms_ = last_activity_ms_;
  if (stream->handler_) stream->handler_->on_response_bytes_sent(bytes);
}

void Http2Server::watch_stalls() {
  if (!stall_timer_.armed) ctx_.timers->arm_timer(&stall_timer_, ctx_.limits->send_timeout_ms);
}

void Http2Server::on_stall_timer(Timer* timer) {
  auto* s = static_cast<Http2Server*>(timer->owner);
  if (s->closing_) return;
  uint64_t now = s->ctx_.timers->now_ms();
  uint64_t limit = s->ctx_.limits->send_timeout_ms;
  bool waiting = false;
  for (Http2ServerStream* stream = s->streams_; stream; stream = stream->next_) {
    if (stream->body_.bytes == 0) continue;
    if (now - stream->last_sent_ms_ < limit) {
      waiting = true;
      continue;
    }
    // The client gives this stream no window (or reads nothing): free its buffers and
    // its upstream stream rather than hold them for as long as the client likes.
    ++s->ctx_.stats->http2_stream_send_timeouts;
    RW_LOG(Debug, "client %s: stream %d took no response bytes for %llu ms; reset",
           s->ctx_.info->client_address.c_str(), stream->id_,
           static_cast<unsigned long long>(limit));
    if (RequestHandler* handler = stream->handler_) {
      stream->handler_ = nullptr;
      handler->on_downstream_reset();
    }
    stream->body_.chunks.clear();
    stream->body_.bytes = 0;
    stream->sync_body_charge();
    nghttp2_submit_rst_stream(s->session_, NGHTTP2_FLAG_NONE, stream->id_, NGHTTP2_CANCEL);
  }
  if (waiting) s->ctx_.timers->arm_timer(&s->stall_timer_, limit);
  s->request_flush();
}

void Http2Server::on_before_flush() {
  if (closing_) return;
  if (!pump_session_output(session_, tcp())) {
    on_connection_closing();
    tcp().abort();
    return;
  }
  bool finished = !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
  if (finished || (draining_ && stream_count_ == 0)) {
    closing_ = true;
    tcp().close_after_flush(kLingerMs);
  }
}

void Http2Server::drain() {
  if (draining_) return;
  draining_ = true;
  // Streams already started finish; the client opens new ones elsewhere.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  request_flush();
}

void Http2Server::on_connection_closing() {
  closing_ = true;
  for (Http2ServerStream* s = streams_; s; s = s->next_) {
    if (s->handler_) {
      RequestHandler* ex = s->handler_;
      s->handler_ = nullptr;
      ex->on_downstream_reset();
    }
  }
}

int Http2Server::cb_begin_frame(nghttp2_session* session, const nghttp2_frame_hd* hd,
                                void* user_data) {
  auto* server = static_cast<Http2Server*>(user_data);
  if (server->calmed_) return NGHTTP2_ERR_CALLBACK_FAILURE;
  switch (hd->type) {
    case NGHTTP2_HEADERS:
      // RFC 9113 §5.1.1: a new stream's id must be larger than every id the client
      // used before. nghttp2 1.52 drops such a HEADERS silently when it no longer
      // knows the stream; it is a connection error, unless we reset that stream
      // lately and the client's trailers crossed our RST_STREAM.
      if ((hd->stream_id & 1) && hd->stream_id <= server->highest_stream_id_ &&
          !nghttp2_session_find_stream(session, hd->stream_id) &&
          !server->recently_reset(hd->stream_id)) {
        nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      if (hd->stream_id > server->highest_stream_id_) server->highest_stream_id_ = hd->stream_id;
      if (!(hd->flags & NGHTTP2_FLAG_END_HEADERS)) {
        server->ctx_.timers->arm_timer(&server->header_timer_,
                                       server->ctx_.limits->request_header_timeout_ms);
      }
      break;
    case NGHTTP2_CONTINUATION:
      if (hd->flags & NGHTTP2_FLAG_END_HEADERS) {
        server->ctx_.timers->disarm_timer(&server->header_timer_);
      }
      break;
    default:
      break;
  }
  bool glitch = frame_is_glitch(session, *hd);
  if (glitch && !server->glitch()) return NGHTTP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int Http2Server::cb_invalid_frame_recv(nghttp2_session*, const nghttp2_frame*, int,
                                       void* user_data) {
  // A frame nghttp2 answers with a stream error (RST_STREAM): every reset the client
  // makes us send counts ("MadeYouReset").
  auto* server = static_cast<Http2Server*>(user_data);
  return server->glitch() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

int Http2Server::cb_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                  void* user_data) {
  auto* server = static_cast<Http2Server*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto* stream = new Http2ServerStream(server, frame->hd.stream_id);
  stream->head_.headers.reserve(kExpectedHeaderCount);
  stream->next_ = server->streams_;
  if (server->streams_) server->streams_->prev_ = stream;
  server->streams_ = stream;
  ++server->stream_count_;
  server->update_idle_timer();
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream);
  return 0;
}

int Http2Server::cb_header(nghttp2_session* session, const nghttp2_frame* frame,
                           nghttp2_rcbuf* name_rc, nghttp2_rcbuf* value_rc, uint8_t,
                           void* user_data) {
  DecodedField field = decoded_field(name_rc, value_rc);
  auto* server = static_cast<Http2Server*>(user_data);
  auto* stream = static_cast<Http2ServerStream*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream || stream->header_overflow_) return 0;
  stream->header_bytes_ += field.cost;
  if (stream->header_bytes_ > server->ctx_.limits->max_header_bytes) {
    stream->header_overflow_ = true;
    // The request target alone is over the limit: 414 rather than 431.
    stream->uri_too_long_ =
        field.name == ":path" && field.value.size() >= server->ctx_.limits->max_header_bytes;
    return 0;
  }
  std::string_view n = field.name;
  std::string_view v = field.value;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    stream->trailers_.push_back(
        Header{HeaderString::from_rcbuf(name_rc), HeaderString::from_rcbuf(value_rc)});
    return 0;
  }
  RequestHead& h = stream->head_;
  if (!n.empty() && n[0] == ':') {
    if (n == ":method") {
      h.method.assign(v);
    } else if (n == ":path") {
      h.path.assign(v);
    } else if (n == ":authority") {
      h.authority.assign(v);
    } else if (n == ":scheme") {
      h.scheme.assign(v);
    }
    return 0;
  }
  if (n == "host") {
    // RFC 9113 §8.3.1: both must be the same; a request that disagrees with itself
    // about its host is refused rather than resolved one way or the other.
    if (h.authority.empty()) {
      h.authority.assign(v);
    } else if (!iequals(h.authority, v)) {
      stream->host_conflict_ = true;
    }
    return 0;
  }
  if (n == "content-length") {
    h.content_length = strtoll(std::string(v).c_str(), nullptr, 10);
    return 0;
  }
  h.headers.push_back(
      Header{HeaderString::from_rcbuf(name_rc), HeaderString::from_rcbuf(value_rc)});
  return 0;
}

void Http2Server::reply_error(Http2ServerStream* stream, LocalReplyCause cause,
                              const char* message) {
  bool grpc = false;
  if (const Header* ct = find_header(stream->head_.headers, "content-type")) {
    grpc = is_grpc_content_type(ct->value);
  }
  LocalReply reply = make_local_reply(cause, message, grpc);
  ctx_.stats->local_replies.add(cause);
  stream->send_local_reply(reply.head,
                           Slice::copy_of(reply.body.data(), static_cast<uint32_t>(reply.body.size())));
}

void Http2Server::start_request(Http2ServerStream* stream, bool end_stream) {
  if (stream->header_overflow_) {
    if (stream->uri_too_long_) {
      reply_error(stream, LocalReplyCause::UriTooLong, "request target too long");
    } else {
      reply_error(stream, LocalReplyCause::HeadersTooLarge, "request header too large");
    }
    glitch();  // when spent, GOAWAY is queued and the next frame ends the connection
    return;
  }
  if (stream->host_conflict_) {
    reply_error(stream, LocalReplyCause::BadRequest, "host and :authority differ");
    return;
  }
  if (ctx_.admission && ctx_.admission->over(ctx_.limits->max_memory_bytes)) {
    ++ctx_.stats->memory_refused;
    reply_error(stream, LocalReplyCause::ServiceUnavailable, "gateway memory limit reached");
    return;
  }
  if (draining_) {
    reply_error(stream, LocalReplyCause::ServiceUnavailable, "gateway is shutting down");
    return;
  }
  ++ctx_.stats->requests;
  stream->handler_ = ctx_.handlers->new_request(stream, *ctx_.info);
  // May answer at once (no route): everything the stream needs is set before.
  stream->handler_->on_request_head(std::move(stream->head_), end_stream);
}

int Http2Server::cb_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                               void* user_data) {
  auto* server = static_cast<Http2Server*>(user_data);
  if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    server->ctx_.timers->disarm_timer(&server->settings_timer_);
    return 0;
  }
  auto* stream = static_cast<Http2ServerStream*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream) return 0;
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    // A reset before we answered: the "rapid reset" pattern when repeated (legitimate
    // cancels mostly come after the response started).
    if (!stream->responded_ && !server->glitch()) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
  }
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.length > 0) {
    server->last_activity_ms_ = server->ctx_.timers->now_ms();  // the request moves
  }
  if (frame->hd.type == NGHTTP2_HEADERS) server->ctx_.timers->disarm_timer(&server->header_timer_);
  if (frame->hd.type == NGHTTP2_HEADERS) {
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      stream->head_method_ = stream->head_.method == "HEAD";
      if (const Header* ct = find_header(stream->head_.headers, "content-type")) {
        stream->grpc_ = is_grpc_content_type(ct->value);
      }
      if (end_stream) stream->request_ended_ = true;
      server->start_request(stream, end_stream);
      return 0;
    }
    if (end_stream) {
      stream->request_ended_ = true;
      if (stream->handler_) {
        stream->handler_->on_request_end(stream->trailers_.empty() ? nullptr : &stream->trailers_);
      }
      stream->send_deferred_reply();
    }
    return 0;
  }
  if (frame->hd.type == NGHTTP2_DATA && end_stream) {
    stream->request_ended_ = true;
    if (stream->handler_) stream->handler_->on_request_end(nullptr);
    stream->send_deferred_reply();
  }
  return 0;
}

int Http2Server::cb_data_chunk_recv(nghttp2_session* session, uint8_t, int32_t stream_id,
                                    const uint8_t* data, size_t len, void* user_data) {
  nghttp2_session_consume_connection(session, len);
  auto* stream =
      static_cast<Http2ServerStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (stream && stream->handler_) {
    stream->handler_->on_request_data(
        Slice::from_recv(reinterpret_cast<const char*>(data), static_cast<uint32_t>(len)));
  } else {
    nghttp2_session_consume_stream(session, stream_id, len);
    if (stream && stream->reply_deferred_) {
      stream->discarded_bytes_ += len;
      auto* server = static_cast<Http2Server*>(user_data);
      // Discarding is cheap (the window is re-opened at once), but not forever: past
      // the bound, answer now and reset the stream after the reply (NO_ERROR).
      uint64_t bound = kMaxDiscardedRequestBytes;
      if (bound < server->ctx_.limits->stream_buffer_bytes) {
        bound = server->ctx_.limits->stream_buffer_bytes;
      }
      if (stream->discarded_bytes_ > bound) stream->send_deferred_reply();
    }
  }
  return 0;
}

int Http2Server::cb_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t,
                                 void* user_data) {
  auto* server = static_cast<Http2Server*>(user_data);
  auto* stream =
      static_cast<Http2ServerStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (!stream) return 0;
  nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
  server->close_stream(stream);
  return 0;
}

void Http2Server::close_stream(Http2ServerStream* stream) {
  if (stream->handler_) {
    RequestHandler* ex = stream->handler_;
    stream->handler_ = nullptr;
    ex->on_downstream_reset();
  }
  if (stream->prev_) {
    stream->prev_->next_ = stream->next_;
  } else {
    streams_ = stream->next_;
  }
  if (stream->next_) stream->next_->prev_ = stream->prev_;
  --stream_count_;
  delete stream;
  update_idle_timer();
}

int Http2Server::cb_frame_send(nghttp2_session* session, const nghttp2_frame* frame,
                               void* user_data) {
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    auto* server = static_cast<Http2Server*>(user_data);
    server->reset_ids_[server->reset_next_++ % kRecentResets] = frame->hd.stream_id;
    return 0;
  }
  if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    auto* server = static_cast<Http2Server*>(user_data);
    server->ctx_.timers->arm_timer(&server->settings_timer_,
                                 server->ctx_.limits->settings_ack_timeout_ms);
    return 0;
  }
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    return 0;
  }
  auto* stream = static_cast<Http2ServerStream*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (stream && !stream->request_ended_ && !stream->grpc_) {
    // The response is complete but the client is still sending: tell it to stop
    // (RFC 9113 §8.1) rather than leave the stream half-open. gRPC clients are left
    // to close their side themselves once they have the status: a reset racing the
    // trailers can make them report CANCELLED instead of the status sent.
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Http2Server::cb_send_data(nghttp2_session* session, nghttp2_frame* frame,
                              const uint8_t* framehd, size_t length, nghttp2_data_source* source,
                              void* user_data) {
  auto* server = static_cast<Http2Server*>(user_data);
  auto* body = static_cast<OutboundBody*>(source->ptr);
  write_data_frame(server->tcp(), *body, framehd, length,
                   static_cast<uint32_t>(frame->hd.stream_id));
  // The bytes moved to the connection's queue (charged there).
  auto* stream = static_cast<Http2ServerStream*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (stream) stream->sync_body_charge();
  return 0;
}

}  // namespace ringway
