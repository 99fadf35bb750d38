#include "proxy/exchange.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/clock.h"
#include "base/log.h"
#include "grpc/grpc_timeout.h"
#include "http/rewrite.h"
#include "io/buffer_ring.h"
#include "proxy/access_log.h"
#include "upstream/pool.h"

namespace ringway {

Exchange::Exchange(ProxyContext* ctx, DownstreamStream* down, std::string_view client_address,
                   std::string_view client_scheme, const ClientCert* client_cert)
    : ctx_(ctx),
      down_(down),
      client_address_(client_address),
      client_scheme_(client_scheme),
      client_cert_(client_cert),
      start_us_(monotonic_us()) {
  timeout_.callback = on_timeout;
  timeout_.owner = this;
  deadline_timer_.callback = on_deadline;
  deadline_timer_.owner = this;
  ++ctx_->active_exchanges;
  ++ctx_->counters.requests;
}

Exchange::~Exchange() {
  ctx_->loop->disarm_timer(&timeout_);
  ctx_->loop->disarm_timer(&deadline_timer_);
  --ctx_->active_exchanges;
}

void Exchange::on_request_head(RequestHead&& head, bool end_stream) {
  request_ = std::move(head);
  request_ended_ = end_stream;
  log_path_ = request_.path;
  if (const Header* ct = find_header(request_.headers, "content-type")) {
    grpc_ = is_grpc_content_type(ct->value);
  }
  const ClientCert* client_cert = client_cert_;
  client_cert_ = nullptr;  // owned by the connection, which may go before we do
  api_ = ctx_->router->match(request_.authority, request_.path);
  if (!api_) {
    reply_locally(LocalReplyCause::NoRoute, "no API matches this path");
    return;
  }
  if (api_->use_mutual_tls_auth) {
    static const ClientCert kNoCert;
    MtlsVerdict verdict = check_mutual_tls(*api_, client_cert ? *client_cert : kNoCert);
    if (verdict.outcome != MtlsOutcome::kAllow) {
      ++ctx_->counters.auth_failures;
      reply_locally(verdict.outcome == MtlsOutcome::kForbidden ? LocalReplyCause::Forbidden
                                                               : LocalReplyCause::Unauthenticated,
                    verdict.reason);
      return;
    }
  }
  ForwardContext fc{client_address_, client_scheme_, client_cert};
  rewrite_request_for_upstream(request_, *api_, fc);
  if (grpc_) {
    // A gRPC deadline replaces upstream_timeout_ms for this call: the gateway answers
    // DEADLINE_EXCEEDED itself when it passes and forwards the remaining time.
    if (const Header* t = find_header(request_.headers, "grpc-timeout")) {
      if (std::optional<uint64_t> ms = parse_grpc_timeout_ms(t->value)) {
        has_deadline_ = true;
        deadline_ms_ = ctx_->loop->now_ms() + *ms;
        ctx_->loop->timers().arm(&deadline_timer_, deadline_ms_);
      }
    }
  }
  if (!has_deadline_) ctx_->loop->arm_timer(&timeout_, ctx_->gateway->upstream_timeout_ms);
  pool_ = ctx_->pools->for_api(api_);
  pool_->request_stream(this);  // may call back synchronously
}

void Exchange::on_upstream_ready(UpstreamStream* up) {
  pool_ = nullptr;
  if (!down_ && !response_started_) {
    // The client left while we were connecting: nothing to send.
    up->cancel();
    maybe_destroy();
    return;
  }
  up_ = up;
  if (has_deadline_) {
    // The upstream gets what is left of the client's deadline, not the original.
    uint64_t now = ctx_->loop->now_ms();
    uint64_t left = deadline_ms_ > now ? deadline_ms_ - now : 0;
    for (Header& h : request_.headers) {
      if (h.name == "grpc-timeout") h.value = format_grpc_timeout(left);
    }
  }
  bool end_stream = request_ended_ && pending_body_.empty() && !has_pending_trailers_;
  up_->send_request_head(request_, end_stream);
  if (!up_) return;  // failed synchronously
  while (!pending_body_.empty() && up_) {
    Slice s = std::move(pending_body_.front());
    pending_body_.pop_front();
    up_->send_request_data(std::move(s));
  }
  if (up_ && request_ended_ && !end_stream) {
    up_->send_request_end(has_pending_trailers_ ? &pending_trailers_ : nullptr);
  }
}

void Exchange::on_request_data(Slice data) {
  if (data.empty()) return;
  request_had_body_ = true;
  request_bytes_pending_ += data.size();
  if (up_) {
    up_->send_request_data(std::move(data));
  } else if (api_ && (pool_ || !response_started_)) {
    hold_request_data(std::move(data));
  } else {
    request_bytes_pending_ -= data.size();
    if (down_) down_->consume_request_bytes(data.size());
    return;
  }
  if (!request_paused_ && request_bytes_pending_ > ctx_->gateway->stream_buffer_bytes && down_) {
    request_paused_ = true;
    down_->pause_request();
  }
}

// Waiting for a connection: the bytes are held (bounded by the pause in
// on_request_data). Many small runs must not each pin a buffer or a block.
void Exchange::hold_request_data(Slice data) {
  bool scarce = data.in_recv_buffer() && thread_buffer_ring() && thread_buffer_ring()->scarce();
  if (!pending_body_.empty()) {
    Slice& last = pending_body_.back();
    if (last.absorb(data)) return;  // adjacent bytes of one block (TLS plaintext)
    // A copy is due anyway: append it to the previous copy.
    if (scarce && last.append_copy(data.data(), data.size())) return;
  }
  // Copied when receive buffers run low: the connection we wait for needs them.
  if (scarce) data.detach();
  pending_body_.push_back(std::move(data));
}

void Exchange::on_request_end(const HeaderList* trailers) {
  request_ended_ = true;
  HeaderList filtered;
  if (trailers && std::any_of(trailers->begin(), trailers->end(), [](const Header& h) {
        return is_client_identity_header(h.name);
      })) {
    // Identity headers are never the client's to send, not even as trailers.
    filtered = *trailers;
    strip_client_identity_headers(filtered);
    trailers = &filtered;
  }
  if (up_) {
    up_->send_request_end(trailers);
  } else if (trailers) {
    pending_trailers_ = *trailers;
    has_pending_trailers_ = true;
  }
}

void Exchange::on_request_bytes_sent(uint32_t bytes) {
  request_bytes_pending_ -= bytes < request_bytes_pending_ ? bytes : request_bytes_pending_;
  // upstream_timeout_ms bounds waiting on the upstream, not the length of an upload
  // that is making progress (as NGINX's proxy_send/read timeouts): progress re-arms it.
  if (!response_started_ && !has_deadline_) {
    ctx_->loop->arm_timer(&timeout_, ctx_->gateway->upstream_timeout_ms);
  }
  if (down_) down_->consume_request_bytes(bytes);
  if (request_paused_ && request_bytes_pending_ <= ctx_->gateway->stream_buffer_bytes / 2 &&
      down_) {
    request_paused_ = false;
    down_->resume_request();
  }
}

void Exchange::on_request_error() {
  // The request body was malformed after the head went upstream: the upstream must
  // not see a complete request.
  if (up_) {
    UpstreamStream* up = up_;
    up_ = nullptr;
    up->cancel();
  }
  if (pool_) {
    pool_->cancel_request(this);
    pool_ = nullptr;
  }
  if (down_ && !response_started_) {
    reply_locally(LocalReplyCause::BadRequest, "malformed request body");  // may delete this
    return;
  }
  if (down_) {
    DownstreamStream* down = down_;
    down_ = nullptr;
    down->abort_response();
  }
  maybe_destroy();
}

void Exchange::on_downstream_reset() {
  down_ = nullptr;
  pending_body_.clear();
  if (up_) {
    // Cancel before anything could mark the upload complete upstream.
    UpstreamStream* up = up_;
    up_ = nullptr;
    up->cancel();
  }
  if (pool_) {
    pool_->cancel_request(this);
    pool_ = nullptr;
  }
  if (!status_) status_ = 499;  // client closed request (nginx's convention) for the log
  maybe_destroy();
}

void Exchange::on_upstream_failed(LocalReplyCause cause, const char* message) {
  up_ = nullptr;
  pool_ = nullptr;
  if (cause == LocalReplyCause::UpstreamTimeout) {
    ++ctx_->counters.upstream_timeouts;
  }
  if (!down_) {
    maybe_destroy();
    return;
  }
  if (!response_started_) {
    reply_locally(cause, message);
    return;
  }
  DownstreamStream* down = down_;
  down_ = nullptr;
  if (grpc_) {
    // A gRPC client gets the status the failure means (UNAVAILABLE for a dead
    // upstream) in trailers, rather than a reset it would report as INTERNAL.
    HeaderList trailers{{"grpc-status", std::to_string(local_reply_grpc_status(cause))},
                        {"grpc-message", grpc_percent_encode(message)}};
    down->send_response_end(&trailers);
  } else {
    down->abort_response();
  }
  maybe_destroy();
}

void Exchange::on_upstream_refused() {
  constexpr uint8_t kMaxRetries = 1;
  up_ = nullptr;
  bool replayable = request_ended_ && !request_had_body_ && !has_pending_trailers_;
  if (down_ && !response_started_ && replayable && retries_ < kMaxRetries && api_) {
    ++retries_;
    pool_ = ctx_->pools->for_api(api_);
    pool_->request_stream(this);  // may call back synchronously
    return;
  }
  on_upstream_failed(LocalReplyCause::UpstreamUnavailable, "upstream refused the stream");
}

void Exchange::on_response_head(ResponseHead& head, bool end_stream) {
  ctx_->loop->disarm_timer(&timeout_);
  response_started_ = true;
  status_ = head.status;
  if (end_stream) {
    // A head with END_STREAM is the whole response: the upstream is done with us.
    up_ = nullptr;
    if (down_) {
      rewrite_response_for_downstream(head);
      DownstreamStream* down = down_;
      down_ = nullptr;
      down->send_response_head(head, true);
    }
    maybe_destroy();
    return;
  }
  if (!down_) return;
  rewrite_response_for_downstream(head);
  down_->send_response_head(head, false);
}

void Exchange::on_response_data(Slice data) {
  if (!down_ || data.empty()) return;
  response_body_bytes_ += data.size();
  response_bytes_pending_ += data.size();
  down_->send_response_data(std::move(data));
  if (!response_paused_ && up_ && response_bytes_pending_ > ctx_->gateway->stream_buffer_bytes) {
    response_paused_ = true;
    up_->pause_response();
  }
}

void Exchange::on_response_bytes_sent(uint32_t bytes) {
  response_bytes_pending_ -= bytes < response_bytes_pending_ ? bytes : response_bytes_pending_;
  if (up_) {
    up_->consume_response_bytes(bytes);
    if (response_paused_ && response_bytes_pending_ <= ctx_->gateway->stream_buffer_bytes / 2) {
      response_paused_ = false;
      up_->resume_response();
    }
  }
}

void Exchange::on_response_end(const HeaderList* trailers) {
  up_ = nullptr;
  if (down_) {
    DownstreamStream* down = down_;
    down_ = nullptr;
    down->send_response_end(trailers);
  }
  maybe_destroy();
}

void Exchange::on_timeout(Timer* timer) {
  auto* ex = static_cast<Exchange*>(timer->owner);
  if (ex->response_started_) return;
  if (ex->pool_) {
    ex->pool_->cancel_request(ex);
    ex->pool_ = nullptr;
  }
  if (ex->up_) {
    UpstreamStream* up = ex->up_;
    ex->up_ = nullptr;
    up->cancel();
  }
  ++ex->ctx_->counters.upstream_timeouts;
  ex->reply_locally(LocalReplyCause::UpstreamTimeout, "upstream timed out");
}

void Exchange::on_deadline(Timer* timer) {
  auto* ex = static_cast<Exchange*>(timer->owner);
  ++ex->ctx_->counters.upstream_timeouts;
  if (ex->pool_) {
    ex->pool_->cancel_request(ex);
    ex->pool_ = nullptr;
  }
  if (ex->up_) {
    // RST_STREAM(CANCEL): the server sees the cancellation at once.
    UpstreamStream* up = ex->up_;
    ex->up_ = nullptr;
    up->cancel();
  }
  if (!ex->response_started_) {
    ex->reply_locally(LocalReplyCause::UpstreamTimeout, "Deadline Exceeded");  // may delete ex
    return;
  }
  if (ex->down_) {
    // The response has started: end it with the status the client's deadline implies.
    HeaderList trailers{{"grpc-status", "4"}, {"grpc-message", "Deadline Exceeded"}};
    DownstreamStream* down = ex->down_;
    ex->down_ = nullptr;
    down->send_response_end(&trailers);
  }
  ex->maybe_destroy();
}

void Exchange::reply_locally(LocalReplyCause cause, const char* message) {
  ++ctx_->counters.local_replies;
  status_ = local_reply_http_status(cause);
  if (down_ && !response_started_) {
    response_started_ = true;
    LocalReply reply = make_local_reply(cause, message, grpc_);
    if (grpc_) status_ = 200;
    response_body_bytes_ = reply.body.size();
    Slice body = Slice::copy_of(reply.body.data(), static_cast<uint32_t>(reply.body.size()));
    DownstreamStream* down = down_;
    down_ = nullptr;
    down->send_local_reply(reply.head, std::move(body));
  }
  maybe_destroy();
}

void Exchange::write_access_log() {
  if (logged_ || !ctx_->access_log) return;
  logged_ = true;
  AccessLogEntry e;
  e.client = client_address_;
  e.method = request_.method;
  e.path = log_path_;
  e.api = api_ ? std::string_view(api_->name) : std::string_view("-");
  e.status = status_;
  e.bytes = response_body_bytes_;
  e.duration_us = monotonic_us() - start_us_;
  ctx_->access_log->write(e);
}

void Exchange::maybe_destroy() {
  if (down_ || up_ || pool_) return;
  write_access_log();
  delete this;
}

}  // namespace ringway
