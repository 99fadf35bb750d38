#include "http2/h2_client.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/log.h"
#include "io/loop.h"
#include "tls/tls_session.h"

namespace ringway {
namespace {
// Streams per upstream connection even when the peer allows more: beyond this a new
// connection spreads the load (and the head-of-line risk of one TCP connection).
constexpr uint32_t kMaxStreamsPerConnection = 1000;
}  // namespace

// --- stream ---

void Http2ClientStream::send_request_head(const RequestHead& head, bool end_stream) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 5);
  nva.push_back(make_nv(":method", 7, head.method.data(), head.method.size()));
  nva.push_back(make_nv(":scheme", 7, "http", 4));
  nva.push_back(make_nv(":authority", 10, head.authority.data(), head.authority.size()));
  nva.push_back(make_nv(":path", 5, head.path.data(), head.path.size()));
  for (const Header& h : head.headers) {
    if (h.name == "content-length") continue;
    nva.push_back(make_nv(h.name, h.value));
  }
  std::string length;
  if (head.content_length >= 0) {
    length = std::to_string(head.content_length);
    nva.push_back(make_nv("content-length", 14, length.data(), length.size()));
  }
  nghttp2_data_provider provider;
  provider.source.ptr = &body_;
  provider.read_callback = outbound_body_read;
  int32_t id = nghttp2_submit_request(conn_->session(), nullptr, nva.data(), nva.size(),
                                      end_stream ? nullptr : &provider, this);
  if (id < 0) {
    RW_LOG(Debug, "nghttp2_submit_request: %s", nghttp2_strerror(id));
    UpstreamCallbacks* callbacks = callbacks_;
    callbacks_ = nullptr;
    conn_->remove_stream(this);  // deletes this
    // Nothing was sent: the request may go elsewhere.
    callbacks->on_upstream_failed(
        UpstreamError{UpstreamFailure::kRefused, "upstream stream could not be opened"});
    return;
  }
  id_ = id;
  conn_->request_flush();
}

void Http2ClientStream::send_request_data(Slice data) {
  body_.push(std::move(data));
  resume_body(conn_->session(), id_, body_);
  conn_->request_flush();
}

void Http2ClientStream::send_request_end(const HeaderList* trailers) {
  body_.end = true;
  if (trailers && !trailers->empty()) {
    body_.trailers = *trailers;
    body_.has_trailers = true;
  }
  resume_body(conn_->session(), id_, body_);
  conn_->request_flush();
}

void Http2ClientStream::consume_response_bytes(uint32_t bytes) {
  nghttp2_session_consume_stream(conn_->session(), id_, bytes);
  conn_->request_flush();
}

void Http2ClientStream::cancel() {
  callbacks_ = nullptr;
  // RST_STREAM(CANCEL) goes out at the end of this turn; an END_STREAM never does,
  // so the upstream cannot mistake a cut-short upload for a complete one.
  nghttp2_submit_rst_stream(conn_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
  body_.chunks.clear();
  body_.bytes = 0;
  conn_->request_flush();
}

// --- connection ---

Http2ClientConn::Http2ClientConn(const ClientCodecContext& context, Owner* owner)
    : ctx_(context), owner_(owner), tcp_(context.loop, this) {
  tcp_.set_output_limits(ctx_.limits->send_queue_bytes, ctx_.limits->send_timeout_ms,
                         ctx_.memory, /*hold_input=*/false);
  timer_.callback = on_timer;
  timer_.owner = this;
}

Http2ClientConn::~Http2ClientConn() {
  ctx_.timers->disarm_timer(&timer_);
  if (counted_open_) --ctx_.stats->connections_open;
  if (session_) nghttp2_session_del(session_);
  while (streams_) {
    Http2ClientStream* s = streams_;
    streams_ = s->next_;
    delete s;
  }
}

void Http2ClientConn::connect(const SockAddr& address) {
  counted_open_ = true;
  ++ctx_.stats->connections_open;
  int rc = tcp_.connect(reinterpret_cast<const sockaddr*>(&address.storage), address.len);
  if (rc < 0) {
    on_connected(rc);
    return;
  }
  ctx_.timers->arm_timer(&timer_, ctx_.limits->connect_timeout_ms);
}

bool Http2ClientConn::has_capacity() const {
  if (goaway_) return false;
  return room_for_streams(stream_count_ + pending_.size());
}

bool Http2ClientConn::room_for_streams(size_t streams) const {
  if (state_ == State::Closing || goaway_received_) return false;
  // Until this connection's SETTINGS arrive, assume what other connections to the
  // same upstream advertised (or 100, the RFC's recommended minimum).
  uint32_t limit = owner_->peer_stream_limit();
  if (session_) {
    if (settings_received_) {
      limit = nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    }
    if (nghttp2_session_get_next_stream_id(session_) > (1u << 30)) return false;
  }
  if (limit > kMaxStreamsPerConnection) limit = kMaxStreamsPerConnection;
  return streams < limit;
}

void Http2ClientConn::add_request(UpstreamCallbacks* callbacks) {
  if (state_ == State::Ready && settings_received_) {
    open_stream(callbacks);
  } else {
    pending_.push_back(callbacks);
  }
}

bool Http2ClientConn::forget_pending(UpstreamCallbacks* callbacks) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (*it == callbacks) {
      pending_.erase(it);
      return true;
    }
  }
  return false;
}

void Http2ClientConn::on_connected(int error) {
  ctx_.timers->disarm_timer(&timer_);
  if (error == 0 && tcp_.tls() && tcp_.tls()->alpn() != "h2") {
    // Only "h2" was offered; a server that ignores ALPN would read our HTTP/2
    // preface as garbage.
    RW_LOG(Warn, "upstream TLS: the server did not select ALPN h2 (proxy_enable_http2)");
    out_->abort();
    error = -EPROTO;
  }
  if (error < 0) {
    ++ctx_.stats->connect_failures;
    RW_LOG(Debug, "upstream h2c connect failed: %s", strerror(-error));
    owner_->on_connect_result(false);
    fail_all(UpstreamError{UpstreamFailure::kConnectFailed, "upstream connection failed"});
    return;
  }
  ++ctx_.stats->connects;
  static nghttp2_session_callbacks* const cb = [] {
    nghttp2_session_callbacks* c;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_header_callback2(c, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, cb_frame_recv);
    nghttp2_session_callbacks_set_on_begin_frame_callback(c, cb_begin_frame);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(c, cb_invalid_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, cb_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, cb_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(c, cb_send_data);
    return c;
  }();
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&session_, cb, this, option);
  nghttp2_option_del(option);
  const UpstreamLimits& limits = *ctx_.limits;
  glitches_.start(limits.http2_max_glitches, ctx_.timers->now_ms());
  uint32_t window =
      limits.stream_buffer_bytes > 0x7fffffffu ? 0x7fffffffu : limits.stream_buffer_bytes;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_bytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(limits.connection_window_bytes));
  state_ = State::Ready;
  owner_->on_connect_result(true);
  tcp_.start_recv();
  // Streams open once the peer's first SETTINGS says how many it takes: opening them
  // on an assumed limit could leave some queued inside nghttp2 behind long-lived
  // streams (or refused). The connect timeout also bounds the wait for SETTINGS.
  ctx_.timers->arm_timer(&timer_, ctx_.limits->connect_timeout_ms);
  request_flush();
}

void Http2ClientConn::open_pending() {
  ctx_.timers->disarm_timer(&timer_);
  std::deque<UpstreamCallbacks*> pending;
  pending.swap(pending_);
  for (UpstreamCallbacks* callbacks : pending) {
    if (state_ != State::Ready) {
      // Never sent: the caller may try elsewhere.
      callbacks->on_upstream_failed(
          UpstreamError{UpstreamFailure::kRefused, "upstream connection lost"});
    } else if (room_for_streams(stream_count_)) {
      // (A local shutdown() still opens what was already waiting here.)
      open_stream(callbacks);
    } else {
      owner_->request_stream(callbacks);  // another connection, or the pool's queue
    }
  }
  update_timer();
  request_flush();
}

void Http2ClientConn::open_stream(UpstreamCallbacks* callbacks) {
  auto* stream = new Http2ClientStream(this, callbacks);
  stream->response_.headers.reserve(kExpectedHeaderCount);
  stream->next_ = streams_;
  if (streams_) streams_->prev_ = stream;
  streams_ = stream;
  ++stream_count_;
  update_timer();
  callbacks->on_upstream_ready(stream);  // submits the request through send_request_head
}

void Http2ClientConn::remove_stream(Http2ClientStream* stream) {
  if (stream->prev_) {
    stream->prev_->next_ = stream->next_;
  } else {
    streams_ = stream->next_;
  }
  if (stream->next_) stream->next_->prev_ = stream->prev_;
  --stream_count_;
  if (stream->id_ > 0 && session_) {
    nghttp2_session_set_stream_user_data(session_, stream->id_, nullptr);
  }
  delete stream;
  update_timer();
  if (state_ == State::Ready && goaway_ && stream_count_ == 0) {
    // Closed after the next pump (on_before_flush), not here: this may run inside
    // nghttp2's send, which goes on handing out frames for a connection already
    // closed (and a TcpConn already shut down drops them).
    close_after_pump_ = true;
    request_flush();
    return;
  }
  if (state_ == State::Ready) owner_->on_capacity();
}

void Http2ClientConn::update_timer() {
  if (state_ != State::Ready || !settings_received_) return;
  if (stream_count_ == 0) {
    ctx_.timers->arm_timer(&timer_, ctx_.limits->idle_timeout_ms);
  } else {
    ctx_.timers->disarm_timer(&timer_);
  }
}

void Http2ClientConn::on_timer(Timer* timer) {
  auto* c = static_cast<Http2ClientConn*>(timer->owner);
  if (c->state_ == State::Connecting) {
    ++c->ctx_.stats->connect_failures;
    c->owner_->on_connect_result(false);
    c->fail_all(UpstreamError{UpstreamFailure::kConnectFailed, "upstream connect timed out"});
  } else if (c->state_ == State::Ready && !c->settings_received_) {
    c->fail_all(
        UpstreamError{UpstreamFailure::kProtocolError, "upstream sent no HTTP/2 SETTINGS"});
  } else if (c->state_ == State::Ready && c->stream_count_ == 0) {
    nghttp2_submit_goaway(c->session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    pump_session_output(c->session_, *c->out_);
    c->close();
  }
}

void Http2ClientConn::shutdown() {
  goaway_ = true;
  if (state_ == State::Connecting && pending_.empty()) {
    close();
  } else if (state_ == State::Ready && stream_count_ == 0 && pending_.empty()) {
    close();
  }
}

void Http2ClientConn::close() {
  if (state_ == State::Closing) return;
  state_ = State::Closing;
  owner_->on_conn_unavailable(this);
  out_->close_after_flush(0);
}

void Http2ClientConn::fail_all(const UpstreamError& error) {
  bool was_closing = state_ == State::Closing;
  state_ = State::Closing;
  if (!was_closing) owner_->on_conn_unavailable(this);
  struct Failed {
    UpstreamCallbacks* callbacks;
    UpstreamError error;
  };
  std::vector<Failed> failed;
  // Requests still waiting for the connection never left: unless the connection
  // itself failed, they may go elsewhere.
  UpstreamError unsent = error;
  if (error.kind != UpstreamFailure::kConnectFailed && error.kind != UpstreamFailure::kShutdown) {
    unsent.kind = UpstreamFailure::kRefused;
  }
  for (UpstreamCallbacks* callbacks : pending_) failed.push_back({callbacks, unsent});
  pending_.clear();
  for (Http2ClientStream* s = streams_; s; s = s->next_) {
    if (!s->callbacks_) continue;
    UpstreamError e = error;
    e.response_started = s->head_delivered_;
    // Above a GOAWAY's last-stream-id the upstream promised not to have acted.
    if (goaway_received_ && s->id_ > goaway_last_stream_id_ &&
        error.kind != UpstreamFailure::kShutdown) {
      e.kind = UpstreamFailure::kRefused;
    }
    failed.push_back({s->callbacks_, e});
    s->callbacks_ = nullptr;
  }
  out_->abort();
  for (Failed& f : failed) f.callbacks->on_upstream_failed(f.error);
}

size_t Http2ClientConn::on_recv(const char* data, size_t len) {
  if (state_ != State::Ready) return len;
  in_recv_ = true;
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  in_recv_ = false;
  report_refused();
  if (rv < 0) {
    RW_LOG(Debug, "upstream HTTP/2 error: %s", nghttp2_strerror(static_cast<int>(rv)));
    fail_all(UpstreamError{UpstreamFailure::kProtocolError, "upstream protocol error"});
    return len;
  }
  request_flush();
  return len;
}

void Http2ClientConn::on_recv_end(int) {
  fail_all(UpstreamError{UpstreamFailure::kConnectionLost, "upstream closed the connection"});
}

void Http2ClientConn::on_send_error(int error) {
  fail_all(UpstreamError{UpstreamFailure::kConnectionLost,
                         error == -ETIMEDOUT ? "upstream stopped reading"
                                             : "upstream connection reset"});
}

void Http2ClientConn::on_credit(uint32_t credit_id, uint32_t bytes) {
  if (!session_) return;
  auto* stream = static_cast<Http2ClientStream*>(
      nghttp2_session_get_stream_user_data(session_, static_cast<int32_t>(credit_id)));
  if (stream && stream->callbacks_) stream->callbacks_->on_request_bytes_sent(bytes);
}

void Http2ClientConn::on_before_flush() {
  if (state_ != State::Ready) return;
  uint64_t written = 0;
  bool ok = pump_session_output(session_, *out_, &written);
  if (written > 0 && ctx_.stats) ++ctx_.stats->sends;  // one send per turn: the batching
  if (!ok) {
    fail_all(UpstreamError{UpstreamFailure::kProtocolError, "upstream session failed"});
    return;
  }
  if (close_after_pump_) {
    close();
    return;
  }
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
    fail_all(UpstreamError{UpstreamFailure::kConnectionLost, "upstream session ended"});
  }
}

void Http2ClientConn::on_closed() {
  owner_->on_conn_closed(this);
  delete this;
}

int Http2ClientConn::cb_header(nghttp2_session* session, const nghttp2_frame* frame,
                               nghttp2_rcbuf* name_rc, nghttp2_rcbuf* value_rc, uint8_t,
                               void* user_data) {
  DecodedField field = decoded_field(name_rc, value_rc);
  auto* conn = static_cast<Http2ClientConn*>(user_data);
  auto* stream = static_cast<Http2ClientStream*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream) return 0;
  stream->header_bytes_ += field.cost;
  if (stream->header_bytes_ > conn->ctx_.limits->max_header_bytes) {
    stream->header_overflow_ = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream; close reports it
  }
  std::string_view n = field.name;
  std::string_view v = field.value;
  if (stream->head_delivered_) {
    stream->trailers_.push_back(
        Header{HeaderString::from_rcbuf(name_rc), HeaderString::from_rcbuf(value_rc)});
    return 0;
  }
  if (n == ":status") {
    stream->response_.status = atoi(std::string(v).c_str());
  } else if (n == "content-length") {
    stream->response_.content_length = strtoll(std::string(v).c_str(), nullptr, 10);
  } else if (n.empty() || n[0] != ':') {
    stream->response_.headers.push_back(
        Header{HeaderString::from_rcbuf(name_rc), HeaderString::from_rcbuf(value_rc)});
  }
  return 0;
}

bool Http2ClientConn::glitch() {
  if (glitches_.take(ctx_.timers->now_ms(), ctx_.limits->http2_max_glitches,
                     ctx_.limits->http2_glitch_refill_per_s)) {
    return true;
  }
  RW_LOG(Warn, "upstream HTTP/2 misbehaviour budget spent; GOAWAY(ENHANCE_YOUR_CALM)");
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  return false;
}

int Http2ClientConn::cb_begin_frame(nghttp2_session* session, const nghttp2_frame_hd* hd,
                                    void* user_data) {
  auto* conn = static_cast<Http2ClientConn*>(user_data);
  // A server has no reason to ping us often (keepalive is seconds apart).
  bool glitch = frame_is_glitch(session, *hd) ||
                (hd->type == NGHTTP2_PING && !(hd->flags & NGHTTP2_FLAG_ACK));
  if (glitch && !conn->glitch()) return NGHTTP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int Http2ClientConn::cb_invalid_frame_recv(nghttp2_session*, const nghttp2_frame*, int,
                                           void* user_data) {
  auto* conn = static_cast<Http2ClientConn*>(user_data);
  return conn->glitch() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

int Http2ClientConn::cb_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                                   void* user_data) {
  auto* conn = static_cast<Http2ClientConn*>(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    // Streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM (and
    // sent again elsewhere by their callers); those below finish. No new streams.
    conn->goaway_ = true;
    conn->goaway_received_ = true;
    conn->goaway_last_stream_id_ = frame->goaway.last_stream_id;
    ++conn->ctx_.stats->goaways;
    conn->owner_->on_conn_unavailable(conn);
    return 0;
  }
  if (frame->hd.type == NGHTTP2_SETTINGS) {
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      bool first = !conn->settings_received_;
      conn->settings_received_ = true;
      conn->owner_->on_peer_stream_limit(nghttp2_session_get_remote_settings(
          session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
      if (first) conn->open_pending();
    }
    conn->owner_->on_capacity();
    return 0;
  }
  auto* stream = static_cast<Http2ClientStream*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!stream) return 0;
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    if (!stream->head_delivered_) {
      if (stream->response_.status >= 100 && stream->response_.status < 200) {
        stream->response_ = ResponseHead();  // interim response: wait for the final one
        stream->header_bytes_ = 0;
        return 0;
      }
      stream->head_delivered_ = true;
      UpstreamCallbacks* callbacks = stream->callbacks_;
      if (end_stream) stream->callbacks_ = nullptr;
      if (callbacks) callbacks->on_response_head(stream->response_, end_stream);
      return 0;
    }
    if (end_stream && stream->callbacks_) {
      UpstreamCallbacks* callbacks = stream->callbacks_;
      stream->callbacks_ = nullptr;
      callbacks->on_response_end(stream->trailers_.empty() ? nullptr : &stream->trailers_);
    }
    return 0;
  }
  if (frame->hd.type == NGHTTP2_DATA && end_stream && stream->callbacks_) {
    UpstreamCallbacks* callbacks = stream->callbacks_;
    stream->callbacks_ = nullptr;
    callbacks->on_response_end(nullptr);
  }
  return 0;
}

int Http2ClientConn::cb_data_chunk_recv(nghttp2_session* session, uint8_t, int32_t stream_id,
                                        const uint8_t* data, size_t len, void*) {
  nghttp2_session_consume_connection(session, len);
  auto* stream =
      static_cast<Http2ClientStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (stream && stream->callbacks_) {
    stream->callbacks_->on_response_data(
        Slice::from_recv(reinterpret_cast<const char*>(data), static_cast<uint32_t>(len)));
  } else {
    nghttp2_session_consume_stream(session, stream_id, len);
  }
  return 0;
}

int Http2ClientConn::cb_stream_close(nghttp2_session* session, int32_t stream_id,
                                     uint32_t error_code, void* user_data) {
  auto* conn = static_cast<Http2ClientConn*>(user_data);
  auto* stream =
      static_cast<Http2ClientStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (!stream) return 0;
  UpstreamCallbacks* callbacks = stream->callbacks_;
  stream->callbacks_ = nullptr;
  UpstreamError error{UpstreamFailure::kStreamReset, "upstream reset the stream"};
  error.response_started = stream->head_delivered_;
  if (stream->header_overflow_) {
    error = UpstreamError{UpstreamFailure::kProtocolError, "upstream response head too large"};
  } else if (error_code == NGHTTP2_REFUSED_STREAM && !stream->head_delivered_) {
    // REFUSED_STREAM (from the peer, or nghttp2's own for streams above a GOAWAY's
    // last-stream-id and requests it could not send): the upstream did nothing.
    error = UpstreamError{UpstreamFailure::kRefused, "upstream refused the stream"};
  }
  conn->remove_stream(stream);
  if (!callbacks) return 0;
  if (error.kind == UpstreamFailure::kRefused && conn->in_recv_) {
    conn->refused_.emplace_back(callbacks, error);
  } else {
    callbacks->on_upstream_failed(error);
  }
  return 0;
}

void Http2ClientConn::report_refused() {
  for (size_t i = 0; i < refused_.size(); ++i) {  // a retry may add none here: no goaway
    refused_[i].first->on_upstream_failed(refused_[i].second);
  }
  refused_.clear();
}

int Http2ClientConn::cb_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                                  size_t length, nghttp2_data_source* source, void* user_data) {
  auto* conn = static_cast<Http2ClientConn*>(user_data);
  auto* body = static_cast<OutboundBody*>(source->ptr);
  write_data_frame(*conn->out_, *body, framehd, length,
                   static_cast<uint32_t>(frame->hd.stream_id));
  return 0;
}

}  // namespace ringway
