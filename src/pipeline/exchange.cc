#include "pipeline/exchange.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/log.h"
#include "config/config.h"
#include "grpc/grpc_timeout.h"
#include "http/path_normalize.h"
#include "io/loop.h"
#include "pipeline/access_log.h"
#include "pipeline/api_stats.h"
#include "pipeline/proxy_generation.h"
#include "pipeline/proxy_shard.h"
#include "pipeline/rewrite.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

// RFC 9110 §9.2.1 safe methods: sent again after a stale keep-alive connection
// dropped them, as browsers and NGINX do.
bool is_safe_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

LocalReplyCause cause_of(const UpstreamError& error) {
  switch (error.kind) {
    case UpstreamFailure::kConnectFailed:
    case UpstreamFailure::kUnavailable:
      return LocalReplyCause::UpstreamConnectFailure;
    case UpstreamFailure::kRefused:
    case UpstreamFailure::kConnectionLost:
    case UpstreamFailure::kStreamReset:
      return LocalReplyCause::UpstreamReset;
    case UpstreamFailure::kProtocolError:
      return LocalReplyCause::UpstreamProtocolError;
    case UpstreamFailure::kShutdown:
      return LocalReplyCause::ServiceUnavailable;
  }
  return LocalReplyCause::UpstreamReset;
}

}  // namespace

RequestHandler* ProxyHandlerFactory::new_request(ServerStream* stream,
                                                 const DownstreamInfo& info) {
  return new Exchange(shard_, stream, info);
}

Exchange::Exchange(ProxyShard* shard, ServerStream* down, const DownstreamInfo& info)
    : shard_(shard),
      down_(down),
      info_(&info),
      protocol_(info.protocol),
      client_address_(info.client_address),
      start_us_(shard->loop->now_us()) {
  timeout_.callback = on_timeout;
  timeout_.owner = this;
  deadline_timer_.callback = on_deadline;
  deadline_timer_.owner = this;
  body_timer_.callback = on_body_timer;
  body_timer_.owner = this;
  ++shard_->active_exchanges;
}

Exchange::~Exchange() {
  shard_->loop->disarm_timer(&timeout_);
  shard_->loop->disarm_timer(&deadline_timer_);
  shard_->loop->disarm_timer(&body_timer_);
  --shard_->active_exchanges;
  if (generation_) generation_->release();  // last: may free the generation
}

const ApiConfig& Exchange::api() const { return *route_->config; }

void Exchange::on_request_head(RequestHead&& head, bool end_stream) {
  request_ = std::move(head);
  request_ended_ = end_stream;
  log_path_ = request_.path;
  if (const Header* ct = find_header(request_.headers, "content-type")) {
    grpc_ = is_grpc_content_type(ct->value);
  }
  // The newest configuration, held until this request ends.
  generation_ = shard_->current;
  generation_->acquire();
  if (!end_stream && !grpc_) {
    // A body follows: it may not stall (gRPC streams pause legitimately; they have
    // deadlines instead).
    body_activity_ms_ = shard_->loop->now_ms();
    shard_->loop->arm_timer(&body_timer_, generation_->gateway().client_body_timeout_ms);
  }
  guarded([this] {
    // What is routed, authorised, logged and forwarded is the normalised path.
    PathNormalizeResult path = normalize_request_path(
        request_.path, PathNormalizeOptions{generation_->gateway().merge_slashes});
    if (path.status == PathStatus::kInvalidEncoding) {
      finish_locally(LocalReplyCause::BadRequest, "invalid percent-encoding in the path");
      return;
    }
    if (path.changed) log_path_ = request_.path;
    route_ = generation_->match(request_.authority, request_.path);
    if (!route_) {
      finish_locally(LocalReplyCause::NoRoute, "no API matches this path");
      return;
    }
    // Refused before the filters run or anything goes upstream (as NGINX's
    // client_max_body_size); a body without a length is checked as it arrives.
    uint32_t max_body = generation_->gateway().max_request_body_bytes;
    if (max_body != 0 && request_.content_length > static_cast<int64_t>(max_body)) {
      finish_locally(LocalReplyCause::RequestBodyTooLarge,
                     "request body larger than max_request_body_bytes");
      return;
    }
    if (path.encoded_slash && !route_->config->allow_encoded_slashes) {
      finish_locally(LocalReplyCause::BadRequest,
                     "encoded slashes (%2F, %5C) are not allowed in this API's paths");
      return;
    }
    if (grpc_) {
      // A gRPC deadline replaces upstream_timeout_ms for this call and covers the
      // filters too: the gateway answers DEADLINE_EXCEEDED itself when it passes and
      // forwards the remaining time.
      if (const Header* t = find_header(request_.headers, "grpc-timeout")) {
        if (std::optional<uint64_t> ms = parse_grpc_timeout_ms(t->value)) {
          has_deadline_ = true;
          deadline_ms_ = shard_->loop->now_ms() + *ms;
          shard_->loop->timers().arm(&deadline_timer_, deadline_ms_);
        }
      }
    }
    runner_.start(&route_->filters, this, this);
  });
}

void Exchange::continue_request() {
  guarded([this] { runner_.resume(); });
}

void Exchange::on_filters_passed() {
  ForwardContext fc{client_address_, info_->scheme(), info_->cert(), info_->trusted_proxy};
  rewrite_request_for_upstream(request_, *route_->config, fc);
  // One upstream_timeout_ms for all attempts (a retry does not restart it; progress
  // of the request body does, see on_request_bytes_sent).
  if (!has_deadline_) {
    shard_->loop->arm_timer(&timeout_, generation_->gateway().upstream_timeout_ms);
  }
  send_upstream();
}

void Exchange::send_upstream(bool avoid_idle) {
  pool_ = route_->pool.get();
  guarded([this, avoid_idle] {
    // May call back synchronously.
    if (avoid_idle) {
      pool_->request_stream_avoiding_idle(this);
    } else {
      pool_->request_stream(this);
    }
  });
}

void Exchange::on_upstream_ready(UpstreamStream* up) {
  pool_ = nullptr;
  if (!down_) {
    // The client left while we were connecting: nothing to send.
    up->cancel();
    maybe_destroy();
    return;
  }
  up_ = up;
  upstream_start_us_ = shard_->loop->now_us();
  if (has_deadline_) {
    // The upstream gets what is left of the client's deadline, not the original.
    uint64_t now = shard_->loop->now_ms();
    uint64_t left = deadline_ms_ > now ? deadline_ms_ - now : 0;
    for (Header& h : request_.headers) {
      if (h.name == "grpc-timeout") h.value = format_grpc_timeout(left);
    }
  }
  bool end_stream = request_ended_ && pending_body_.empty() && !has_pending_trailers_;
  // Sending may fail at once and end the exchange (a local reply): finish first.
  guarded([this, up, end_stream] {
    // A stream that fails at once is replaced (a retry: retries_ moves on) or given
    // up on (up_ cleared); the rest is then that attempt's business. (Comparing
    // stream pointers would not do: a new stream may reuse the old one's memory.)
    const uint8_t attempt = retries_;
    up->send_request_head(request_, end_stream);
    while (!pending_body_.empty() && up_ && retries_ == attempt) {
      forward_body(pending_body_.pop_front());
    }
    if (up_ && retries_ == attempt && request_ended_ && !end_stream) {
      up->send_request_end(has_pending_trailers_ ? &pending_trailers_ : nullptr);
    }
  });
}

// Sends |data| on the upstream stream, keeping a copy for a retry while the
// retained total stays under upstream_retry_buffer_bytes.
void Exchange::forward_body(Slice data) {
  if (replayable_) {
    uint64_t limit = generation_->gateway().upstream_retry_buffer_bytes;
    if (replay_bytes_ + data.size() <= limit) {
      Slice copy = data.share();
      // Kept possibly until the response head: do not pin receive buffers for it
      // when they run low.
      if (copy.pins_scarce_buffer()) copy.detach();
      replay_bytes_ += copy.size();
      replay_body_.push_back(std::move(copy));
    } else {
      replayable_ = false;
      replay_body_.clear();
      replay_bytes_ = 0;
    }
  }
  up_->send_request_data(std::move(data));
}

void Exchange::on_request_data(Slice data) {
  if (data.empty()) return;
  request_had_body_ = true;
  body_received_ += data.size();
  body_activity_ms_ = shard_->loop->now_ms();
  uint32_t max_body = generation_->gateway().max_request_body_bytes;
  if (max_body != 0 && body_received_ > max_body) {
    reject_large_body();  // may delete this
    return;
  }
  body_in_flight_ += data.size();
  if (up_) {
    forward_body(std::move(data));
  } else if (body_state_ == RequestBody::kReceiving && !response_started_) {
    // A filter waits for the whole body: held and credited (bounded by its limit, so
    // the client is not stalled by flow control below it).
    uint32_t size = data.size();
    hold_request_data(std::move(data));
    credit_client(size);
    if (body_received_ > body_limit_) {
      body_state_ = RequestBody::kTooLarge;
      guarded([this] { runner_.rerun(); });
    }
    return;
  } else if (route_ && (pool_ || !response_started_)) {
    // Filters still running, or waiting for a stream.
    hold_request_data(std::move(data));
  } else {
    // Answered already: the rest of the body is read and dropped.
    body_in_flight_ -= data.size();
    credit_client(data.size());
    return;
  }
  maybe_pause_request();
}

void Exchange::maybe_pause_request() {
  // (Body bytes only come after the head, so the generation is set.)
  if (!request_paused_ && body_in_flight_ > generation_->gateway().stream_buffer_bytes &&
      down_) {
    request_paused_ = true;
    down_->pause_request();
  }
}

// Held until a stream is ready (bounded by the pause in on_request_data). Many small
// runs must not each pin a buffer or a block.
void Exchange::hold_request_data(Slice data) {
  bool scarce = data.pins_scarce_buffer();
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
  shard_->loop->disarm_timer(&body_timer_);
  HeaderList filtered;
  if (trailers && std::any_of(trailers->begin(), trailers->end(), [](const Header& h) {
        return is_client_identity_header(h.name);
      })) {
    // Identity headers are never the client's to send, not even as trailers.
    filtered = *trailers;
    strip_client_identity_headers(filtered);
    trailers = &filtered;
  }
  if (trailers) {
    // Kept for a retry as well as for a stream that is not ready yet.
    pending_trailers_ = *trailers;
    has_pending_trailers_ = true;
  }
  if (up_) {
    up_->send_request_end(trailers);
  } else if (body_state_ == RequestBody::kReceiving) {
    body_state_ = RequestBody::kComplete;
    guarded([this] { runner_.rerun(); });
  }
}

bool Exchange::wait_for_request_body(uint64_t limit) {
  if (grpc_) {
    body_state_ = RequestBody::kNone;  // a stream: never held whole
    return false;
  }
  if (body_state_ == RequestBody::kComplete || body_state_ == RequestBody::kTooLarge) {
    return false;  // decided for an earlier filter
  }
  if (body_received_ > limit) {
    body_state_ = RequestBody::kTooLarge;
    return false;
  }
  if (request_ended_) {
    body_state_ = RequestBody::kComplete;
    return false;
  }
  body_state_ = RequestBody::kReceiving;
  body_limit_ = limit;
  // What arrived before (held under stream_buffer_bytes) is credited now; a paused
  // client is let go on.
  credit_client(static_cast<uint32_t>(
      std::min<uint64_t>(body_received_ - body_credited_, UINT32_MAX)));
  if (request_paused_ && down_) {
    request_paused_ = false;
    down_->resume_request();
  }
  return true;
}

std::string Exchange::request_body() const {
  std::string body;
  body.reserve(body_in_flight_);
  pending_body_.for_each([&body](const Slice& s) { body.append(s.data(), s.size()); });
  return body;
}

void Exchange::replace_request_body(std::string body) {
  pending_body_.clear();
  request_.content_length = static_cast<int64_t>(body.size());
  body_in_flight_ = body.size();
  request_had_body_ = !body.empty();
  if (!body.empty()) {
    pending_body_.push_back(Slice::copy_of(body.data(), static_cast<uint32_t>(body.size())));
  }
}

void Exchange::credit_client(uint32_t bytes) {
  // Bytes sent again after a retry were credited the first time.
  uint64_t left = body_received_ - body_credited_;
  uint32_t credit = bytes < left ? bytes : static_cast<uint32_t>(left);
  if (credit == 0) return;
  body_credited_ += credit;
  if (down_) down_->consume_request_bytes(credit);
}

void Exchange::on_request_bytes_sent(uint32_t bytes) {
  body_in_flight_ -= bytes < body_in_flight_ ? bytes : body_in_flight_;
  upstream_activity_ms_ = shard_->loop->now_ms();  // the upstream is taking the body
  // upstream_timeout_ms bounds waiting on the upstream, not the length of an upload
  // that is making progress (as NGINX's proxy_send/read timeouts): progress re-arms it.
  if (!response_started_ && !has_deadline_) {
    shard_->loop->arm_timer(&timeout_, generation_->gateway().upstream_timeout_ms);
  }
  credit_client(bytes);
  if (request_paused_ && body_in_flight_ <= generation_->gateway().stream_buffer_bytes / 2 &&
      down_) {
    request_paused_ = false;
    down_->resume_request();
  }
}

void Exchange::detach_upstream() {
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
}

void Exchange::on_request_error() {
  // The request body was malformed after the head went upstream: the upstream must
  // not see a complete request.
  detach_upstream();
  if (down_ && (!response_started_ || response_held_)) {
    finish_locally(LocalReplyCause::BadRequest, "malformed request body");  // may delete this
    return;
  }
  runner_.cancel();  // nothing of the chain may call back any more
  set_flag(LocalReplyCause::BadRequest);
  if (down_) {
    ServerStream* down = down_;
    down_ = nullptr;
    down->abort_response();
  }
  maybe_destroy();
}

void Exchange::on_downstream_reset() {
  down_ = nullptr;
  pending_body_.clear();
  replay_body_.clear();
  runner_.cancel();  // a filter waiting for something stops waiting
  detach_upstream();
  if (!status_) {
    status_ = 499;  // client closed request (NGINX's convention) for the log
    flag_ = "DC";
  }
  maybe_destroy();
}

bool Exchange::can_retry(const UpstreamError& error) const {
  if (!down_ || response_started_ || error.response_started) return false;
  if (retries_ >= generation_->gateway().upstream_max_retries) return false;
  // Every body byte sent so far must be available to send again.
  if (request_had_body_ && !replayable_) return false;
  if (error.kind == UpstreamFailure::kRefused) return true;
  // A keep-alive connection that the upstream closed as it was being reused: the
  // request most likely never reached it, but only a safe request may be repeated.
  return error.kind == UpstreamFailure::kConnectionLost && error.reused_connection &&
         is_safe_method(request_.method);
}

void Exchange::retry(bool avoid_idle) {
  ++retries_;
  ++route_->stats->upstream_retries;
  // Everything sent goes again, followed by whatever had not been sent yet.
  SliceQueue resend;
  while (!replay_body_.empty()) resend.push_back(replay_body_.pop_front());
  while (!pending_body_.empty()) resend.push_back(pending_body_.pop_front());
  pending_body_ = std::move(resend);
  replay_bytes_ = 0;
  body_in_flight_ = 0;
  pending_body_.for_each([this](const Slice& s) { body_in_flight_ += s.size(); });
  send_upstream(avoid_idle);
}

void Exchange::on_upstream_failed(const UpstreamError& error) {
  up_ = nullptr;
  pool_ = nullptr;
  if (can_retry(error)) {
    RW_LOG(Debug, "api %s: %s; sending the request again (retry %u)",
           route_->config->name.c_str(), error.message, retries_ + 1u);
    // A reused connection that turned out closed: its idle neighbours may be closed
    // too (an upstream keep-alive timeout shorter than ours), so not another one.
    retry(error.reused_connection);
    return;
  }
  LocalReplyCause cause = cause_of(error);
  if (error.kind != UpstreamFailure::kConnectFailed &&
      error.kind != UpstreamFailure::kUnavailable && error.kind != UpstreamFailure::kShutdown) {
    ++route_->stats->upstream_resets;
  }
  if (!down_) {
    maybe_destroy();
    return;
  }
  if (!response_started_ || response_held_) {
    finish_locally(cause, error.message);
    return;
  }
  set_flag(cause);
  RW_LOG(Info, "api %s: upstream %s failed mid-response (%s): %s", route_->config->name.c_str(),
         route_->config->target.address.text.c_str(), local_reply_flag(cause), error.message);
  ServerStream* down = down_;
  down_ = nullptr;
  if (grpc_) {
    // A gRPC client gets the status the failure means (UNAVAILABLE for a dead
    // upstream) in trailers, rather than a reset it would report as INTERNAL.
    HeaderList trailers{{"grpc-status", std::to_string(local_reply_grpc_status(cause))},
                        {"grpc-message", grpc_percent_encode(error.message)}};
    down->send_response_end(&trailers);
  } else {
    down->abort_response();
  }
  maybe_destroy();
}

void Exchange::on_response_head(ResponseHead& head, bool end_stream) {
  if (end_stream || grpc_) {
    shard_->loop->disarm_timer(&timeout_);
  } else {
    // From now on the timer watches the body for stalls (on_read_stall).
    upstream_activity_ms_ = shard_->loop->now_ms();
    shard_->loop->arm_timer(&timeout_, generation_->gateway().upstream_read_timeout_ms);
  }
  response_started_ = true;
  status_ = head.status;
  replay_body_.clear();  // the upstream has the request: no retry from here on
  replayable_ = false;
  route_->stats->response_head_latency.record_us(shard_->loop->now_us() - upstream_start_us_);
  if (runner_.wants_response()) runner_.on_response_head(head);
  if (down_ && runner_.wants_held_response()) {
    // Kept from the client until the response filters (plugin hooks) are done with it.
    response_held_ = true;
    held_.head = head;
    held_.body_whole = !grpc_;
    if (end_stream) {
      up_ = nullptr;
      upstream_ended_ = true;
    }
    if (end_stream || grpc_) start_held_response();
    return;
  }
  if (end_stream) {
    // A head with END_STREAM is the whole response: the upstream is done with us.
    up_ = nullptr;
    if (down_) {
      rewrite_response_for_downstream(head);
      ServerStream* down = down_;
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
  upstream_activity_ms_ = shard_->loop->now_ms();
  if (!down_ || data.empty()) return;
  if (response_held_) {
    hold_response_data(std::move(data));
    return;
  }
  if (runner_.wants_response()) {
    runner_.on_response_data(data);
    if (data.empty()) return;
  }
  response_body_bytes_ += data.size();
  response_bytes_pending_ += data.size();
  down_->send_response_data(std::move(data));
  if (!response_paused_ && up_ &&
      response_bytes_pending_ > generation_->gateway().stream_buffer_bytes) {
    response_paused_ = true;
    up_->pause_response();
  }
}

void Exchange::on_response_bytes_sent(uint32_t bytes) {
  // Until now the client was the slow side (the upstream was held back by a pause or
  // its window): a stall of the upstream is measured from here (on_read_stall).
  if (response_bytes_pending_ > 0) upstream_activity_ms_ = shard_->loop->now_ms();
  response_bytes_pending_ -= bytes < response_bytes_pending_ ? bytes : response_bytes_pending_;
  if (response_precredited_ > 0) {
    // Bytes buffered for a response filter were credited upstream as they arrived.
    uint32_t taken = static_cast<uint32_t>(std::min<uint64_t>(response_precredited_, bytes));
    response_precredited_ -= taken;
    bytes -= taken;
  }
  if (up_) {
    if (bytes > 0) up_->consume_response_bytes(bytes);
    if (response_paused_ &&
        response_bytes_pending_ <= generation_->gateway().stream_buffer_bytes / 2) {
      response_paused_ = false;
      up_->resume_response();
    }
  }
}

void Exchange::on_response_end(const HeaderList* trailers) {
  up_ = nullptr;
  if (down_ && response_held_) {
    upstream_ended_ = true;
    if (trailers) {
      held_.trailers = *trailers;
      has_held_trailers_ = true;
    }
    if (!held_stage_started_) start_held_response();  // the whole body is in
    return;
  }
  if (down_) {
    ServerStream* down = down_;
    down_ = nullptr;
    if (trailers && runner_.wants_response()) {
      HeaderList copy = *trailers;
      runner_.on_response_trailers(copy);
      down->send_response_end(&copy);
    } else {
      down->send_response_end(trailers);
    }
  }
  maybe_destroy();
}

void Exchange::hold_response_data(Slice data) {
  uint32_t size = data.size();
  if (!held_stage_started_ && held_.body_whole) {
    uint64_t limit = route_->filters.held_body_limit();
    if (held_.body.size() + size <= limit) {
      // Buffered whole: the upstream is credited as it arrives (the bound is |limit|).
      held_.body.append(data.data(), size);
      if (up_) up_->consume_response_bytes(size);
      response_precredited_ += size;
      return;
    }
    // Too large to show the filters: it passes through unseen, as a stream.
    held_.body_whole = false;
    held_.body_too_large = true;
    if (!held_.body.empty()) {
      held_data_bytes_ += held_.body.size();
      held_data_.push_back(
          Slice::copy_of(held_.body.data(), static_cast<uint32_t>(held_.body.size())));
      held_.body.clear();
      held_.body.shrink_to_fit();
    }
    held_data_bytes_ += size;
    held_data_.push_back(std::move(data));
    start_held_response();
    return;
  }
  // A stream whose head is held: queued, the upstream paused beyond stream_buffer_bytes.
  if (data.pins_scarce_buffer()) data.detach();
  held_data_bytes_ += size;
  held_data_.push_back(std::move(data));
  if (!response_paused_ && up_ && held_data_bytes_ > generation_->gateway().stream_buffer_bytes) {
    response_paused_ = true;
    up_->pause_response();
  }
}

void Exchange::start_held_response() {
  held_stage_started_ = true;
  guarded([this] { runner_.start_held_response(&held_); });
}

void Exchange::continue_response() {
  guarded([this] { runner_.resume_response(); });
}

void Exchange::on_held_response_passed() {
  response_held_ = false;
  if (!down_) {
    maybe_destroy();
    return;
  }
  status_ = held_.head.status;
  ResponseHead& head = held_.head;
  rewrite_response_for_downstream(head);
  bool bodiless = request_.method == "HEAD" || head.status < 200 || head.status == 204 ||
                  head.status == 304;
  if (bodiless) {
    // No body may follow (a hook's raw_body is dropped); HEAD and 304 keep the
    // upstream's Content-Length, which describes the entity.
    held_.body.clear();
  } else if (held_.body_whole) {
    head.content_length = static_cast<int64_t>(held_.body.size());
  }
  bool nothing_follows = upstream_ended_ && held_.body.empty() && held_data_.empty() &&
                         !has_held_trailers_;
  if (nothing_follows) {
    ServerStream* down = down_;
    down_ = nullptr;
    down->send_response_head(head, true);
    maybe_destroy();
    return;
  }
  down_->send_response_head(head, false);
  if (!held_.body.empty()) {
    response_body_bytes_ += held_.body.size();
    response_bytes_pending_ += held_.body.size();
    down_->send_response_data(
        Slice::copy_of(held_.body.data(), static_cast<uint32_t>(held_.body.size())));
    held_.body.clear();
  }
  while (!held_data_.empty()) {
    Slice data = held_data_.pop_front();
    response_body_bytes_ += data.size();
    response_bytes_pending_ += data.size();
    down_->send_response_data(std::move(data));
  }
  held_data_bytes_ = 0;
  if (upstream_ended_) {
    end_held_upstream();
    return;
  }
  if (response_paused_ && up_ &&
      response_bytes_pending_ <= generation_->gateway().stream_buffer_bytes / 2) {
    response_paused_ = false;
    up_->resume_response();
  }
}

void Exchange::end_held_upstream() {
  ServerStream* down = down_;
  down_ = nullptr;
  if (has_held_trailers_ && runner_.wants_response()) runner_.on_response_trailers(held_.trailers);
  down->send_response_end(has_held_trailers_ ? &held_.trailers : nullptr);
  maybe_destroy();
}

// FilterCallbacks: a filter's own reply (a plugin's return override).
void Exchange::reply_with(ResponseHead& head, std::string body) {
  runner_.set_pending(nullptr);
  runner_.finish();
  shard_->loop->disarm_timer(&timeout_);
  status_ = head.status;
  flag_ = "PO";  // plugin override
  head.content_length = static_cast<int64_t>(body.size());
  answer_downstream(head, body);
  maybe_destroy();
}

void Exchange::answer_downstream(ResponseHead& head, std::string_view body) {
  if (response_held_) detach_upstream();  // the upstream's response is dropped
  if (!down_ || (response_started_ && !response_held_)) return;
  response_started_ = true;
  response_held_ = false;
  response_body_bytes_ = body.size();
  ServerStream* down = down_;
  down_ = nullptr;
  down->send_local_reply(head, Slice::copy_of(body.data(), static_cast<uint32_t>(body.size())));
}

void Exchange::on_timeout(Timer* timer) {
  auto* ex = static_cast<Exchange*>(timer->owner);
  if (ex->response_started_) {
    ex->on_read_stall();
    return;
  }
  ex->detach_upstream();
  ++ex->route_->stats->upstream_timeouts;
  ex->finish_locally(LocalReplyCause::UpstreamTimeout, "upstream timed out");
}

void Exchange::on_deadline(Timer* timer) {
  auto* ex = static_cast<Exchange*>(timer->owner);
  if (ex->up_ || ex->pool_) ++ex->route_->stats->upstream_timeouts;
  // RST_STREAM(CANCEL): the server sees the cancellation at once.
  ex->detach_upstream();
  if (!ex->response_started_ || ex->response_held_) {
    ex->finish_locally(LocalReplyCause::DeadlineExceeded, "Deadline Exceeded");  // may delete ex
    return;
  }
  ex->set_flag(LocalReplyCause::DeadlineExceeded);
  if (ex->down_) {
    // The response has started: end it with the status the client's deadline implies.
    HeaderList trailers{{"grpc-status", "4"}, {"grpc-message", "Deadline Exceeded"}};
    ServerStream* down = ex->down_;
    ex->down_ = nullptr;
    down->send_response_end(&trailers);
  }
  ex->maybe_destroy();
}

void Exchange::on_read_stall() {
  if (!up_) return;  // the response has all arrived (held for the filters)
  uint64_t now = shard_->loop->now_ms();
  uint64_t limit = generation_->gateway().upstream_read_timeout_ms;
  if (response_paused_ || response_bytes_pending_ > 0) {
    // The client is the slow side (send_timeout_ms is its bound): the upstream is
    // held back by us, through a pause or its flow-control window.
    upstream_activity_ms_ = now;
  }
  if (now - upstream_activity_ms_ < limit) {
    shard_->loop->arm_timer(&timeout_, limit - (now - upstream_activity_ms_));
    return;
  }
  ++route_->stats->upstream_read_timeouts;
  RW_LOG(Info, "api %s: upstream %s sent no response bytes for %llu ms; aborting the response",
         route_->config->name.c_str(), route_->config->target.address.text.c_str(),
         static_cast<unsigned long long>(limit));
  abandon(LocalReplyCause::UpstreamTimeout, "upstream read timed out");
}

void Exchange::on_body_timer(Timer* timer) {
  auto* ex = static_cast<Exchange*>(timer->owner);
  if (ex->request_ended_ || !ex->down_) return;
  Loop* loop = ex->shard_->loop;
  uint64_t now = loop->now_ms();
  uint64_t limit = ex->generation_->gateway().client_body_timeout_ms;
  if (ex->request_paused_ || ex->body_credited_ < ex->body_received_) {
    // The client may be waiting for us (a pause, or its flow-control window).
    ex->body_activity_ms_ = now;
  }
  if (now - ex->body_activity_ms_ < limit) {
    loop->arm_timer(&ex->body_timer_, limit - (now - ex->body_activity_ms_));
    return;
  }
  ApiStats* stats = ex->route_ ? ex->route_->stats : ex->shard_->unrouted_stats;
  if (stats) ++stats->client_body_timeouts;
  ex->abandon(LocalReplyCause::RequestTimeout, "request body timed out");  // may delete ex
}

void Exchange::reject_large_body() {
  abandon(LocalReplyCause::RequestBodyTooLarge, "request body larger than max_request_body_bytes");
}

void Exchange::abandon(LocalReplyCause cause, std::string_view message) {
  // The upstream must not see what it has of the request as complete.
  detach_upstream();
  if (down_ && (!response_started_ || response_held_)) {
    finish_locally(cause, message);  // may delete this
    return;
  }
  runner_.cancel();  // nothing of the chain may call back any more
  set_flag(cause);
  if (down_) {
    ServerStream* down = down_;
    down_ = nullptr;
    if (grpc_) {
      // The status in trailers, as for a failed upstream (a reset reads as INTERNAL).
      HeaderList trailers{{"grpc-status", std::to_string(local_reply_grpc_status(cause))},
                          {"grpc-message", grpc_percent_encode(message)}};
      down->send_response_end(&trailers);
    } else {
      down->abort_response();
    }
  }
  maybe_destroy();
}

// FilterCallbacks: a filter answers (from on_request, or when its operation ends).
void Exchange::reply_locally(LocalReplyCause cause, std::string_view message,
                             const HeaderList* extra_headers) {
  runner_.set_pending(nullptr);  // the filter's operation is over, not to be cancelled
  finish_locally(cause, message, extra_headers);
}

void Exchange::finish_locally(LocalReplyCause cause, std::string_view message,
                              const HeaderList* extra_headers) {
  runner_.finish();  // a filter still waiting is cancelled
  shard_->loop->disarm_timer(&timeout_);
  shard_->http_stats->local_replies.add(cause);
  status_ = local_reply_http_status(cause);
  set_flag(cause);
  if (status_ >= 500) {
    // Operators need to see these even without an access log.
    RW_LOG(Info, "%d %s api=%s upstream=%s: %.*s", status_, local_reply_flag(cause),
           route_ ? route_->config->name.c_str() : "-",
           route_ ? route_->config->target.address.text.c_str() : "-",
           static_cast<int>(message.size()), message.data());
  }
  if (down_ && (!response_started_ || response_held_)) {
    LocalReply reply = make_local_reply(cause, message, grpc_, extra_headers);
    if (grpc_) status_ = 200;
    answer_downstream(reply.head, reply.body);
  } else if (response_held_) {
    detach_upstream();
  }
  maybe_destroy();
}

void Exchange::write_access_log() {
  if (logged_) return;
  logged_ = true;
  ApiStats* stats = route_ ? route_->stats : shard_->unrouted_stats;
  if (stats) stats->count_request(protocol_, status_);
  if (!shard_->access_log) return;
  AccessLogEntry e;
  e.client = client_address_;
  e.method = request_.method;
  e.path = log_path_;
  e.api = route_ ? std::string_view(route_->config->name) : std::string_view("-");
  e.status = status_;
  e.bytes = response_body_bytes_;
  e.duration_us = shard_->loop->now_us() - start_us_;
  e.flag = flag_;
  shard_->access_log->write(e);
}

void Exchange::maybe_destroy() {
  if (guard_ > 0) {
    // A filter or a pool is on the stack: finish once it has returned.
    destroy_pending_ = down_ == nullptr && up_ == nullptr && pool_ == nullptr;
    return;
  }
  destroy_pending_ = false;
  if (down_ || up_ || pool_) return;
  // A filter operation still registered (a plugin call) must never call back into
  // freed memory: every path above cancels it, this makes sure.
  runner_.cancel();
  write_access_log();
  delete this;
}

}  // namespace ringway
