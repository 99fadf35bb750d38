#include "http1/h1_client.h"

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "io/loop.h"

namespace ringway {

const llhttp_settings_t* Http1ClientConn::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t v;
    llhttp_settings_init(&v);
    v.on_message_begin = cb_message_begin;
    v.on_header_field = cb_header_field;
    v.on_header_value = cb_header_value;
    v.on_header_value_complete = cb_header_value_complete;
    v.on_headers_complete = cb_headers_complete;
    v.on_body = cb_body;
    v.on_message_complete = cb_message_complete;
    return v;
  }();
  return &s;
}

Http1ClientConn::Http1ClientConn(const ClientCodecContext& context, Owner* owner)
    : ctx_(context), owner_(owner), tcp_(context.loop, this) {
  tcp_.set_output_limits(ctx_.limits->send_queue_bytes, ctx_.limits->send_timeout_ms,
                         ctx_.memory, /*hold_input=*/false);
  llhttp_init(&parser_, HTTP_RESPONSE, settings());
  parser_.data = this;
  timer_.callback = on_timer;
  timer_.owner = this;
}

Http1ClientConn::~Http1ClientConn() {
  ctx_.timers->disarm_timer(&timer_);
  if (counted_open_) --ctx_.stats->connections_open;
}

void Http1ClientConn::connect(const SockAddr& address, UpstreamCallbacks* waiter) {
  waiter_ = waiter;
  state_ = State::Connecting;
  counted_open_ = true;
  ++ctx_.stats->connections_open;
  int rc = tcp_.connect(reinterpret_cast<const sockaddr*>(&address.storage), address.len);
  if (rc < 0) {
    // No socket at all (fd limit): fail like a refused connect, asynchronously safe
    // because the request is still waiting in our hands.
    on_connected(rc);
    return;
  }
  ctx_.timers->arm_timer(&timer_, ctx_.limits->connect_timeout_ms);
}

void Http1ClientConn::on_connected(int error) {
  ctx_.timers->disarm_timer(&timer_);
  if (error < 0) {
    ++ctx_.stats->connect_failures;
    RW_LOG(Debug, "upstream connect failed: %s", strerror(-error));
    owner_->on_connect_result(false);
    fail(UpstreamError{UpstreamFailure::kConnectFailed, "upstream connection failed"});
    return;
  }
  ++ctx_.stats->connects;
  owner_->on_connect_result(true);
  tcp_.start_recv();
  state_ = State::Idle;
  UpstreamCallbacks* callbacks = waiter_;
  waiter_ = nullptr;
  if (callbacks) {
    assign(callbacks);
  } else {
    owner_->release(this);
  }
}

void Http1ClientConn::on_timer(Timer* timer) {
  auto* c = static_cast<Http1ClientConn*>(timer->owner);
  if (c->state_ == State::Connecting) {
    ++c->ctx_.stats->connect_failures;
    c->owner_->on_connect_result(false);
    c->fail(UpstreamError{UpstreamFailure::kConnectFailed, "upstream connect timed out"});
  } else if (c->state_ == State::Idle) {
    c->close();
  }
}

void Http1ClientConn::assign(UpstreamCallbacks* callbacks) {
  ctx_.timers->disarm_timer(&timer_);
  state_ = State::Busy;
  callbacks_ = callbacks;
  // Fresh credit ids: the last request's bytes may still be queued (its response
  // came first), and their credits must not count as this request's.
  head_credit_ += 2;
  if (head_credit_ == 0) head_credit_ = 2;
  head_sent_ = false;
  request_done_ = false;
  response_started_ = false;
  response_done_ = false;
  keep_alive_ = true;
  paused_ = false;
  callbacks->on_upstream_ready(this);
}

void Http1ClientConn::send_request_head(const RequestHead& head, bool end_stream) {
  head_request_ = head.method == "HEAD";
  uint64_t length = 0;
  if (end_stream) {
    // Methods that normally carry a body get an explicit zero length.
    bool body_method = head.method == "POST" || head.method == "PUT" || head.method == "PATCH";
    request_framing_ = body_method ? BodyFraming::ContentLength : BodyFraming::None;
    request_done_ = true;
  } else if (head.content_length >= 0) {
    request_framing_ = BodyFraming::ContentLength;
    length = static_cast<uint64_t>(head.content_length);
  } else {
    request_framing_ = BodyFraming::Chunked;
  }
  std::string out;
  out.reserve(512);
  append_request_head(out, head, request_framing_, length);
  // Credited, so a connection lost before the head left our socket is known to
  // have carried nothing (the request can be sent again elsewhere).
  out_->write(Slice::copy_of(out.data(), static_cast<uint32_t>(out.size())), head_credit_);
}

void Http1ClientConn::send_request_data(Slice data) {
  if (request_framing_ == BodyFraming::Chunked) {
    char line[24];
    size_t n = format_chunk_header(line, data.size());
    out_->write_copy(line, n);
    out_->write(std::move(data), head_credit_ + 1);
    out_->write_copy("\r\n", 2);
  } else {
    out_->write(std::move(data), head_credit_ + 1);
  }
}

void Http1ClientConn::send_request_end(const HeaderList* trailers) {
  if (request_framing_ == BodyFraming::Chunked) {
    std::string out;
    append_last_chunk(out, trailers);
    out_->write_copy(out.data(), out.size());
  }
  request_done_ = true;
  maybe_release();
}

void Http1ClientConn::on_credit(uint32_t credit_id, uint32_t bytes) {
  if (credit_id == head_credit_) {
    head_sent_ = true;
    return;
  }
  if (callbacks_ && credit_id == head_credit_ + 1) callbacks_->on_request_bytes_sent(bytes);
}

void Http1ClientConn::pause_response() { paused_ = true; }

void Http1ClientConn::resume_response() {
  if (!paused_) return;
  paused_ = false;
  out_->resume_recv();
}

void Http1ClientConn::cancel() {
  callbacks_ = nullptr;
  close();
}

void Http1ClientConn::close() {
  if (state_ == State::Closing) return;
  state_ = State::Closing;
  callbacks_ = nullptr;
  waiter_ = nullptr;
  owner_->on_conn_closing(this);
  out_->abort();
}

void Http1ClientConn::fail(const UpstreamError& error) {
  UpstreamCallbacks* callbacks = callbacks_ ? callbacks_ : waiter_;
  callbacks_ = nullptr;
  waiter_ = nullptr;
  close();
  if (callbacks) callbacks->on_upstream_failed(error);
}

void Http1ClientConn::fail_lost(const char* message) {
  UpstreamError error;
  // Nothing of the request left our socket: the upstream cannot have seen it.
  error.kind = head_sent_ || response_started_ ? UpstreamFailure::kConnectionLost
                                               : UpstreamFailure::kRefused;
  error.message = message;
  error.reused_connection = requests_done_ > 0;
  error.response_started = response_started_;
  fail(error);
}

size_t Http1ClientConn::on_recv(const char* data, size_t len) {
  if (state_ != State::Busy) {
    // Bytes from an idle upstream (or after the response): a protocol violation.
    close();
    return len;
  }
  if (paused_) {
    out_->pause_recv();
    return 0;
  }
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (state_ == State::Closing) return len;
  if (err == HPE_OK) {
    if (paused_) out_->pause_recv();
    return len;
  }
  if (err == HPE_PAUSED) {
    // Paused at the end of the response: anything after it is unexpected.
    size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    if (consumed < len) keep_alive_ = false;
    llhttp_resume(&parser_);
    maybe_release();
    return len;
  }
  RW_LOG(Debug, "bad HTTP/1.1 response from upstream: %s", llhttp_get_error_reason(&parser_));
  UpstreamError error{UpstreamFailure::kProtocolError, "invalid response from upstream"};
  error.response_started = response_started_;
  fail(error);
  return len;
}

void Http1ClientConn::on_recv_end(int error) {
  if (state_ == State::Busy && callbacks_ && response_started_ && !response_done_ && error == 0) {
    // A response delimited by the connection's end completes here.
    if (llhttp_finish(&parser_) == HPE_OK && response_done_) {
      close();
      return;
    }
  }
  if (state_ == State::Busy && (callbacks_ || !response_done_)) {
    fail_lost(response_started_ ? "upstream closed mid-response"
                                : "upstream closed the connection");
    return;
  }
  close();
}

void Http1ClientConn::on_send_error(int error) {
  RW_LOG(Debug, "upstream send failed: %s", strerror(-error));
  fail_lost(error == -ETIMEDOUT ? "upstream stopped reading the request"
                                : "upstream connection reset");
}

void Http1ClientConn::on_closed() {
  owner_->on_conn_closed(this);
  delete this;
}

int Http1ClientConn::cb_message_begin(llhttp_t* p) {
  auto* c = static_cast<Http1ClientConn*>(p->data);
  c->response_ = ResponseHead();
  c->response_.headers.reserve(kExpectedHeaderCount);
  c->trailers_.clear();
  c->headers_.reset(c->ctx_.limits->max_header_bytes);
  c->in_trailers_ = false;
  return 0;
}

// A response head over max_header_bytes fails the parse (the client gets 502).
int Http1ClientConn::cb_header_field(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Http1ClientConn*>(p->data);
  return c->headers_.on_field(at, len) ? 0 : -1;
}

int Http1ClientConn::cb_header_value(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Http1ClientConn*>(p->data);
  return c->headers_.on_value(at, len) ? 0 : -1;
}

int Http1ClientConn::cb_header_value_complete(llhttp_t* p) {
  auto* c = static_cast<Http1ClientConn*>(p->data);
  HeaderList& list = c->in_trailers_ ? c->trailers_ : c->response_.headers;
  return c->headers_.on_value_complete(list) ? 0 : -1;
}

int Http1ClientConn::cb_headers_complete(llhttp_t* p) {
  return static_cast<Http1ClientConn*>(p->data)->headers_complete();
}

int Http1ClientConn::headers_complete() {
  in_trailers_ = true;
  int status = parser_.status_code;
  if (status >= 100 && status < 200) {
    // Interim responses (100 Continue, 103) are not relayed; 101 is never asked for.
    if (status == 101) return -1;
    skipping_informational_ = true;
    // A 1xx has no content (RFC 9110 §15.2) whatever its framing headers say: llhttp
    // would read a Content-Length "body" and hand it on before any response head.
    return 1;
  }
  skipping_informational_ = false;
  response_started_ = true;
  response_.status = status;
  for (size_t i = 0; i < response_.headers.size();) {
    if (response_.headers[i].name == "content-length") {
      response_.headers.erase(response_.headers.begin() + static_cast<long>(i));
      continue;
    }
    ++i;
  }
  if (parser_.flags & F_CONTENT_LENGTH) {
    response_.content_length = static_cast<int64_t>(parser_.content_length);
  }
  keep_alive_ = llhttp_should_keep_alive(&parser_);
  bool no_body = head_request_ || status == 204 || status == 304 ||
                 ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length == 0 &&
                  !(parser_.flags & F_CHUNKED));
  if (no_body) {
    if (head_request_ || status == 204 || status == 304) {
      // Keep the upstream's content-length for HEAD/304 as an entity header.
    } else {
      response_.content_length = 0;
    }
    UpstreamCallbacks* callbacks = callbacks_;
    callbacks_ = nullptr;
    response_done_ = true;
    ++requests_done_;
    if (callbacks) callbacks->on_response_head(response_, true);
    return 1;  // no body follows
  }
  if (callbacks_) callbacks_->on_response_head(response_, false);
  return 0;
}

int Http1ClientConn::cb_body(llhttp_t* p, const char* at, size_t len) {
  auto* c = static_cast<Http1ClientConn*>(p->data);
  if (c->callbacks_) {
    c->callbacks_->on_response_data(Slice::from_recv(at, static_cast<uint32_t>(len)));
  }
  return 0;
}

int Http1ClientConn::cb_message_complete(llhttp_t* p) {
  return static_cast<Http1ClientConn*>(p->data)->message_complete();
}

int Http1ClientConn::message_complete() {
  if (skipping_informational_) {
    skipping_informational_ = false;
    return 0;  // the final response follows
  }
  response_done_ = true;
  ++requests_done_;
  UpstreamCallbacks* callbacks = callbacks_;
  callbacks_ = nullptr;
  if (callbacks) callbacks->on_response_end(trailers_.empty() ? nullptr : &trailers_);
  return HPE_PAUSED;
}

void Http1ClientConn::maybe_release() {
  if (state_ != State::Busy || !response_done_) return;
  if (!request_done_ || !keep_alive_ || out_->closing()) {
    // The upstream answered before the request body was sent, or will not keep the
    // connection: it cannot carry another request.
    close();
    return;
  }
  callbacks_ = nullptr;
  state_ = State::Idle;
  ctx_.timers->arm_timer(&timer_, ctx_.limits->idle_timeout_ms);
  owner_->release(this);
}

}  // namespace ringway
