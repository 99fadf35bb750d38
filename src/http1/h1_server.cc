#include "http1/h1_server.h"

#include <cstdint>
#include <cstring>

#include "base/log.h"
#include "config/config.h"
#include "http/local_reply.h"
#include "io/timers.h"
#include "mem/memory_budget.h"
#include "net/byte_sink.h"

namespace ringway {
namespace {
// How long a closing connection keeps reading (and discarding) so the client can
// read our last response before it sees a reset.
constexpr uint32_t kLingerMs = 2000;
// A local reply made before the request body ended keeps the connection only if at
// most this much body is left to read and drop.
constexpr uint64_t kMaxDiscardedBodyBytes = 65536;
}  // namespace

const llhttp_settings_t* Http1Server::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = cb_message_begin;
    v.on_method = cb_method;
    v.on_url = cb_url;
    v.on_header_field = cb_header_field;
    v.on_header_value = cb_header_value;
    v.on_header_value_complete = cb_header_value_complete;
    v.on_headers_complete = cb_headers_complete;
    v.on_body = cb_body;
    v.on_message_complete = cb_message_complete;
    v.on_chunk_extension_name = cb_chunk_extension;
    v.on_chunk_extension_value = cb_chunk_extension;
    v.on_chunk_extension_name_complete = cb_chunk_extension_part_complete;
    v.on_chunk_extension_value_complete = cb_chunk_extension_part_complete;
    v.on_chunk_header = cb_chunk_header;
    return v;
  }();
  return &s;
}

Http1Server::Http1Server(const ServerCodecContext& context) : ctx_(context) {
  llhttp_init(&parser_, HTTP_REQUEST, settings());
  parser_.data = this;
  timer_.callback = on_timer;
  timer_.owner = this;
  // The first request head must arrive within the header timeout.
  timer_is_header_ = true;
  ctx_.timers->arm_timer(&timer_, ctx_.limits->request_header_timeout_ms);
}

Http1Server::~Http1Server() {
  ctx_.timers->disarm_timer(&timer_);
  RW_CHECK(handler_ == nullptr);  // on_connection_closing detached it
}

void Http1Server::arm_idle() {
  timer_is_header_ = false;
  ctx_.timers->arm_timer(&timer_, ctx_.limits->idle_timeout_ms);
}

void Http1Server::on_timer(Timer* timer) {
  auto* s = static_cast<Http1Server*>(timer->owner);
  if (s->closing_) return;
  if (s->timer_is_header_ && s->in_request_ && !s->handler_ && !s->response_active_) {
    // The client started a request but did not finish its head in time.
    s->reply_error(LocalReplyCause::RequestTimeout, "request header timeout", false);
    return;
  }
  if (s->handler_ || s->response_active_) {
    // A request in progress (body upload, or response streaming): the client went
    // quiet for idle_timeout_ms while sending its body; give up on it.
    if (s->in_request_ && !s->request_complete_) {
      uint64_t now = s->ctx_.timers->now_ms();
      uint64_t idle = s->ctx_.limits->idle_timeout_ms;
      if (now - s->last_recv_ms_ < idle) {
        // Bytes arrived since the timer was armed: wait out the rest of the period.
        s->ctx_.timers->arm_timer(&s->timer_, idle - (now - s->last_recv_ms_));
        return;
      }
      s->on_connection_closing();
      s->tcp().abort();
    } else {
      s->arm_idle();  // waiting for the handler: it owns that timeout
    }
    return;
  }
  s->closing_ = true;
  s->tcp().close_after_flush(kLingerMs);
}

size_t Http1Server::on_recv(const char* data, size_t len) {
  if (closing_) return len;  // discard while lingering
  last_recv_ms_ = ctx_.timers->now_ms();
  if (paused_for_response_ || paused_for_body_) {
    tcp().pause_recv();
    return 0;
  }
  // The rest of a head (or trailer section) whose scan began in an earlier buffer.
  if (scanner_.active() && scanner_.scan(data, len) == H1HeadScanner::Result::kBad) {
    malformed_input(scanner_.error());
    return len;
  }
  recv_end_ = data + len;
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (closing_) return len;  // a reply_error() or abort inside a callback
  while (err == HPE_PAUSED_UPGRADE) {
    // Protocol upgrades (WebSocket, h2c Upgrade) are not offered: as RFC 9110 §7.8
    // allows, the Upgrade header is ignored (and not forwarded: it is hop-by-hop), the
    // request is an ordinary one, and what follows it is the next request.
    const char* pos = llhttp_get_error_pos(&parser_);
    llhttp_resume_after_upgrade(&parser_);
    err = pos < data + len ? llhttp_execute(&parser_, pos, static_cast<size_t>(data + len - pos))
                           : HPE_OK;
    if (closing_) return len;
  }
  if (err == HPE_OK) {
    if (paused_for_body_) tcp().pause_recv();
    return len;
  }
  if (err == HPE_PAUSED) {
    size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    tcp().pause_recv();
    return consumed;
  }
  // Malformed input (or a check a callback made).
  malformed_input(parse_error_cause_ == 400 ? parse_error_why_ : nullptr);
  return len;
}

void Http1Server::malformed_input(const char* why) {
  ++ctx_.stats->malformed_requests;
  RW_LOG(Debug, "client %s: bad HTTP/1.1 request: %s", ctx_.info->client_address.c_str(),
         why ? why : llhttp_get_error_reason(&parser_));
  if (handler_) {
    RequestHandler* ex = handler_;
    keep_alive_ = false;     // the stream is unparseable: the reply closes it
    ex->on_request_error();  // replies 400 (or aborts) and detaches through our callbacks
    if (!closing_ && !response_active_ && !handler_) {
      closing_ = true;
      tcp().close_after_flush(kLingerMs);
    }
  } else if (response_active_) {
    on_connection_closing();
    tcp().abort();
  } else {
    if (parse_error_cause_ == 414) {
      reply_error(LocalReplyCause::UriTooLong, "request target too long", false);
      return;
    }
    bool too_large = parse_error_cause_ == 431;
    reply_error(too_large ? LocalReplyCause::HeadersTooLarge : LocalReplyCause::BadRequest,
                too_large ? "request header too large" : why ? why : "malformed request",
                false);
  }
}

void Http1Server::on_recv_end(int error) {
  (void)error;
  if (closing_) return;
  if (handler_ || response_active_) {
    // The client went away before its response was complete (mid-body, or while
    // waiting): as NGINX does, abandon the request (logged as 499) and cancel the
    // upstream work instead of finishing a response nobody will read.
    on_connection_closing();
    tcp().abort();
    return;
  }
  closing_ = true;
  tcp().abort();
}

void Http1Server::on_credit(uint32_t credit_id, uint32_t bytes) {
  if (handler_ && credit_id == request_seq_) handler_->on_response_bytes_sent(bytes);
}

void Http1Server::drain() {
  draining_ = true;
  keep_alive_ = false;
  if (!handler_ && !response_active_ && !in_request_) {
    closing_ = true;
    tcp().close_after_flush(kLingerMs);
  }
}

void Http1Server::on_connection_closing() {
  closing_ = true;
  if (handler_) {
    RequestHandler* ex = handler_;
    handler_ = nullptr;
    ex->on_downstream_reset();
  }
}

// --- llhttp callbacks ---

int Http1Server::cb_message_begin(llhttp_t* p) {
  auto* s = static_cast<Http1Server*>(p->data);
  s->head_ = RequestHead();
  s->head_.headers.reserve(kExpectedHeaderCount);
  s->trailers_.clear();
  s->headers_.reset(s->ctx_.limits->max_header_bytes);
  s->in_trailers_ = false;
  s->in_request_ = true;
  s->request_complete_ = false;
  s->head_ended_request_ = false;
  s->parse_error_cause_ = 0;
  s->parse_error_why_ = nullptr;
  s->head_scanned_ = false;
  s->trailers_scanned_ = false;
  s->chunk_extension_bytes_ = 0;
  s->timer_is_header_ = true;
  s->ctx_.timers->arm_timer(&s->timer_, s->ctx_.limits->request_header_timeout_ms);
  return 0;
}

// Over max_header_bytes: the callback fails the parse and the reply is 431.
int Http1Server::header_limit_passed() {
  parse_error_cause_ = 431;
  return -1;
}

int Http1Server::fail_parse(const char* why) {
  parse_error_cause_ = 400;
  parse_error_why_ = why;
  return -1;
}

int Http1Server::start_scan(const char* at, bool request_line) {
  if (request_line) {
    scanner_.start_request_line();
  } else {
    scanner_.start_field_lines();
  }
  if (scanner_.scan(at, static_cast<size_t>(recv_end_ - at)) == H1HeadScanner::Result::kBad) {
    return fail_parse(scanner_.error());
  }
  return 0;
}

// The first byte of the method is the first byte of the head: the scan starts there
// (once: a method split across buffers comes in two calls).
int Http1Server::cb_method(llhttp_t* p, const char* at, size_t) {
  auto* s = static_cast<Http1Server*>(p->data);
  if (s->head_scanned_) return 0;
  s->head_scanned_ = true;
  return s->start_scan(at, true);
}

int Http1Server::cb_url(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<Http1Server*>(p->data);
  s->head_.path.append(at, len);
  if (s->headers_.add_bytes(len)) return 0;
  // The request target alone is over the head limit: 414 rather than 431.
  if (s->head_.path.size() >= s->ctx_.limits->max_header_bytes) {
    s->parse_error_cause_ = 414;
    return -1;
  }
  return s->header_limit_passed();
}

int Http1Server::cb_header_field(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<Http1Server*>(p->data);
  if (s->in_trailers_ && !s->trailers_scanned_) {
    s->trailers_scanned_ = true;
    if (s->start_scan(at, false) != 0) return -1;
  }
  return s->headers_.on_field(at, len) ? 0 : s->header_limit_passed();
}

int Http1Server::cb_header_value(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<Http1Server*>(p->data);
  return s->headers_.on_value(at, len) ? 0 : s->header_limit_passed();
}

int Http1Server::cb_header_value_complete(llhttp_t* p) {
  auto* s = static_cast<Http1Server*>(p->data);
  HeaderList& list = s->in_trailers_ ? s->trailers_ : s->head_.headers;
  return s->headers_.on_value_complete(list) ? 0 : s->header_limit_passed();
}

int Http1Server::cb_headers_complete(llhttp_t* p) {
  return static_cast<Http1Server*>(p->data)->headers_complete();
}

int Http1Server::headers_complete() {
  in_trailers_ = true;  // any further header callbacks are chunked trailers
  ctx_.timers->arm_timer(&timer_, ctx_.limits->idle_timeout_ms);
  timer_is_header_ = false;

  head_.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(&parser_)));
  head_.http10 = parser_.http_major == 1 && parser_.http_minor == 0;
  head_method_ = head_.method == "HEAD";
  keep_alive_ = llhttp_should_keep_alive(&parser_) && !draining_;

  // Host → authority; content-length and transfer-encoding (llhttp frames the body)
  // and expect are handled here.
  bool expect_continue = false;
  bool grpc = false;
  int host_count = 0;
  int te_count = 0;
  bool te_chunked = false;
  std::string host;
  HeaderList& hs = head_.headers;
  for (size_t i = 0; i < hs.size();) {
    std::string_view name = hs[i].name;
    if (name == "host") {
      ++host_count;
      host = hs[i].value.str();
      while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.pop_back();
      hs.erase(hs.begin() + static_cast<long>(i));
      continue;
    }
    if (name == "transfer-encoding") {
      ++te_count;
      te_chunked = iequals(hs[i].value, "chunked");
      hs.erase(hs.begin() + static_cast<long>(i));
      continue;
    }
    if (name == "content-length") {
      hs.erase(hs.begin() + static_cast<long>(i));
      continue;
    }
    if (name == "expect") {
      expect_continue = iequals(hs[i].value, "100-continue");
      hs.erase(hs.begin() + static_cast<long>(i));
      continue;
    }
    if (name == "content-type" && is_grpc_content_type(hs[i].value)) grpc = true;
    ++i;
  }
  if (const char* why = check_head(host, host_count, te_count, te_chunked)) {
    reject_head(why, grpc);
    return HPE_PAUSED;
  }
  if (grpc) {
    // gRPC needs HTTP/2 end to end (trailers carry the status).
    reply_error(LocalReplyCause::BadRequest, "gRPC requires HTTP/2", true);
    return HPE_PAUSED;
  }
  if (ctx_.admission && ctx_.admission->over(ctx_.limits->max_memory_bytes)) {
    // Refused, and the connection closed: under memory pressure it frees its buffers.
    ++ctx_.stats->memory_refused;
    reply_error(LocalReplyCause::ServiceUnavailable, "gateway memory limit reached", grpc);
    return HPE_PAUSED;
  }
  bool chunked = (parser_.flags & F_CHUNKED) != 0;
  if (parser_.flags & F_CONTENT_LENGTH) {
    head_.content_length = static_cast<int64_t>(parser_.content_length);
  }
  bool end_stream = !chunked && head_.content_length <= 0;
  head_ended_request_ = end_stream;
  ++request_seq_;
  if (request_seq_ == 0) request_seq_ = 1;  // 0 means "no credit"
  ++ctx_.stats->requests;
  handler_ = ctx_.handlers->new_request(this, *ctx_.info);
  handler_->on_request_head(std::move(head_), end_stream);
  if (expect_continue && !end_stream && handler_ && !response_active_ && !closing_) {
    // Answer 100 Continue ourselves (as NGINX does) so the body starts flowing while
    // the upstream connection is set up; not when the request was refused at once
    // (413 for its content-length, 401, ...): the body is not wanted then.
    tcp().write_copy("HTTP/1.1 100 Continue\r\n\r\n", 25);
  }
  return 0;
}

const char* Http1Server::check_head(const std::string& host, int host_count, int te_count,
                                    bool te_chunked) {
  // Absolute-form targets ("http://host/path") carry the authority themselves.
  std::string_view scheme;
  if (head_.path.starts_with("http://")) scheme = "http";
  if (head_.path.starts_with("https://")) scheme = "https";
  std::string authority;
  if (!scheme.empty()) {
    size_t start = scheme.size() + 3;
    size_t end = head_.path.find_first_of("/?#", start);
    if (end == std::string::npos) end = head_.path.size();
    authority = head_.path.substr(start, end - start);
    head_.path = head_.path[end] == '/' ? head_.path.substr(end) : "/" + head_.path.substr(end);
    if (!is_valid_host(authority)) return "invalid authority in the request target";
  }
  if (head_.path.empty() || (head_.path[0] != '/' && head_.path != "*")) {
    return "request target must be origin-form";
  }
  // RFC 9112 §3.2: exactly one valid Host in HTTP/1.1 (HTTP/1.0 may omit it), and
  // for an absolute-form target it must name the same origin (a proxy that routes on
  // one and forwards the other can be steered).
  if (host_count > 1) return "duplicate Host header";
  if (host_count == 0 && !head_.http10) return "missing Host header";
  if (host_count == 1 && !is_valid_host(host)) return "invalid Host header";
  if (!scheme.empty() && host_count == 1 && !same_authority(authority, host, scheme)) {
    return "Host header differs from the request target's authority";
  }
  head_.authority = scheme.empty() ? host : authority;
  // Framing. llhttp has already refused Content-Length with Transfer-Encoding, a
  // final coding other than chunked, chunked twice, and every malformed or repeated
  // Content-Length; what is left is stricter policy (SECURITY.md §3): one
  // Transfer-Encoding line, exactly "chunked", and only in HTTP/1.1.
  if (te_count > 1 || (te_count == 1 && !te_chunked)) {
    return "Transfer-Encoding other than one \"chunked\"";
  }
  if (te_count == 1 && head_.http10) return "Transfer-Encoding in an HTTP/1.0 request";
  if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > INT64_MAX) {
    return "Content-Length too large";
  }
  return nullptr;
}

int Http1Server::cb_body(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<Http1Server*>(p->data);
  if (s->handler_) {
    s->handler_->on_request_data(Slice::from_recv(at, static_cast<uint32_t>(len)));
  }
  return 0;
}

// Chunk extensions are never forwarded, but llhttp parses them for as long as they
// go on: their bytes (";name=value", each chunk-size line alone) are capped.
int Http1Server::cb_chunk_extension(llhttp_t* p, const char*, size_t len) {
  auto* s = static_cast<Http1Server*>(p->data);
  s->chunk_extension_bytes_ += static_cast<uint32_t>(len);
  if (s->chunk_extension_bytes_ <= s->ctx_.limits->max_chunk_extension_bytes) return 0;
  return s->fail_parse("chunk extensions too long");
}

// The ';' before a name, the '=' before a value.
int Http1Server::cb_chunk_extension_part_complete(llhttp_t* p) {
  auto* s = static_cast<Http1Server*>(p->data);
  ++s->chunk_extension_bytes_;
  if (s->chunk_extension_bytes_ <= s->ctx_.limits->max_chunk_extension_bytes) return 0;
  return s->fail_parse("chunk extensions too long");
}

int Http1Server::cb_chunk_header(llhttp_t* p) {
  static_cast<Http1Server*>(p->data)->chunk_extension_bytes_ = 0;
  return 0;
}

int Http1Server::cb_message_complete(llhttp_t* p) {
  return static_cast<Http1Server*>(p->data)->message_complete();
}

int Http1Server::message_complete() {
  in_request_ = false;
  request_complete_ = true;
  // Reported once: a head without a body already told the handler (end_stream).
  if (handler_ && !head_ended_request_) {
    handler_->on_request_end(trailers_.empty() ? nullptr : &trailers_);
  }
  if (closing_) return HPE_PAUSED;
  if (handler_ || response_active_) {
    // Answer in order: read nothing more until this response is complete.
    paused_for_response_ = true;
    return HPE_PAUSED;
  }
  if (!keep_alive_) {
    closing_ = true;
    tcp().close_after_flush(kLingerMs);
    return HPE_PAUSED;
  }
  arm_idle();
  return 0;
}

// --- responses ---

void Http1Server::write_head(const std::string& head) {
  tcp().write_copy(head.data(), head.size());
}

void Http1Server::send_response_head(ResponseHead& head, bool end_stream) {
  response_active_ = true;
  uint64_t length = 0;
  bool bodiless_status = head.status == 204 || head.status == 304 || head.status < 200;
  if (bodiless_status) {
    framing_ = BodyFraming::None;
  } else if (head.content_length >= 0) {
    framing_ = BodyFraming::ContentLength;
    length = static_cast<uint64_t>(head.content_length);
  } else if (end_stream) {
    framing_ = BodyFraming::ContentLength;  // "content-length: 0"
  } else if (head_.http10) {
    framing_ = BodyFraming::UntilClose;
    keep_alive_ = false;
  } else {
    framing_ = BodyFraming::Chunked;
  }
  if (draining_) keep_alive_ = false;
  std::string out;
  out.reserve(256);
  append_response_head(out, head, framing_, length, keep_alive_);
  write_head(out);
  if (head_method_ || bodiless_status) framing_ = BodyFraming::None;  // no body bytes follow
  if (end_stream) {
    handler_ = nullptr;
    response_finished();
  }
}

void Http1Server::send_response_data(Slice data) {
  if (framing_ == BodyFraming::None) {
    // HEAD, 204, 304: any body bytes are dropped; credit them at once.
    if (handler_) handler_->on_response_bytes_sent(data.size());
    return;
  }
  if (framing_ == BodyFraming::Chunked) {
    char line[24];
    size_t n = format_chunk_header(line, data.size());
    tcp().write_copy(line, n);
    tcp().write(std::move(data), request_seq_);
    tcp().write_copy("\r\n", 2);
    return;
  }
  tcp().write(std::move(data), request_seq_);
}

void Http1Server::send_response_end(const HeaderList* trailers) {
  handler_ = nullptr;
  if (framing_ == BodyFraming::Chunked) {
    std::string out;
    append_last_chunk(out, trailers);
    write_head(out);
  }
  response_finished();
}

void Http1Server::send_local_reply(ResponseHead& head, Slice body) {
  handler_ = nullptr;
  response_active_ = true;
  if (draining_) keep_alive_ = false;
  if (!request_complete_ && ((parser_.flags & F_CHUNKED) ||
                             parser_.content_length > kMaxDiscardedBodyBytes)) {
    // Answered before the body ended (413, 408, 401 ...): reading and discarding an
    // unbounded rest to keep the connection is not worth it; close (after a linger,
    // so the client sees the reply), as NGINX does.
    keep_alive_ = false;
  }
  std::string out;
  out.reserve(256);
  framing_ = BodyFraming::ContentLength;
  append_response_head(out, head, framing_, body.size(), keep_alive_);
  write_head(out);
  if (!head_method_) tcp().write(std::move(body));
  response_finished();
}

void Http1Server::abort_response() {
  // The response cannot be completed: closing is the only way HTTP/1.1 can show the
  // client it is truncated.
  handler_ = nullptr;
  response_active_ = false;
  closing_ = true;
  tcp().abort();
}

void Http1Server::reject_head(const char* why, bool grpc) {
  ++ctx_.stats->malformed_requests;
  RW_LOG(Debug, "client %s: bad HTTP/1.1 request: %s", ctx_.info->client_address.c_str(), why);
  reply_error(LocalReplyCause::BadRequest, why, grpc);
}

void Http1Server::reply_error(LocalReplyCause cause, const char* message, bool grpc) {
  keep_alive_ = false;
  LocalReply reply = make_local_reply(cause, message, grpc);
  std::string out;
  append_response_head(out, reply.head, BodyFraming::ContentLength, reply.body.size(), false);
  out.append(reply.body);
  write_head(out);
  ctx_.stats->local_replies.add(cause);
  closing_ = true;
  tcp().close_after_flush(kLingerMs);
}

void Http1Server::response_finished() {
  response_active_ = false;
  if (closing_) return;
  if (framing_ == BodyFraming::UntilClose || !keep_alive_) {
    closing_ = true;
    tcp().close_after_flush(kLingerMs);
    return;
  }
  if (request_complete_) {
    arm_idle();
    maybe_unpause();
  }
  // Otherwise the rest of the request body is read and discarded, then the next
  // request is parsed (message_complete sees no handler and carries on).
}

void Http1Server::pause_request() {
  paused_for_body_ = true;  // applied when the current buffer has been parsed
}

void Http1Server::resume_request() {
  if (!paused_for_body_) return;
  paused_for_body_ = false;
  maybe_unpause();
}

void Http1Server::maybe_unpause() {
  if (paused_for_response_ && !handler_ && !response_active_) {
    paused_for_response_ = false;
    llhttp_resume(&parser_);
  }
  if (!paused_for_response_ && !paused_for_body_) tcp().resume_recv();
}

}  // namespace ringway
