#include "plugin/grpc_call.h"

#include "grpc/grpc_timeout.h"
#include "io/loop.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

const Header* find(const HeaderList& headers, std::string_view name) {
  return find_header(headers, name);
}

}  // namespace

const char* grpc_call_status_name(GrpcCallStatus status) {
  switch (status) {
    case GrpcCallStatus::kOk: return "ok";
    case GrpcCallStatus::kUnavailable: return "unavailable";
    case GrpcCallStatus::kDeadline: return "deadline";
    case GrpcCallStatus::kError: return "error";
    case GrpcCallStatus::kProtocol: return "protocol";
    case GrpcCallStatus::kTooLarge: return "too_large";
  }
  return "?";
}

std::string grpc_frame(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 5);
  uint32_t n = static_cast<uint32_t>(message.size());
  out.push_back('\0');
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(message);
  return out;
}

GrpcUnaryCall::GrpcUnaryCall(Loop* loop, UpstreamPool* pool, GrpcCallDone* done,
                             uint32_t max_recv)
    : loop_(loop), pool_(pool), done_(done), max_recv_(max_recv) {
  timer_.callback = on_timer;
  timer_.owner = this;
}

GrpcUnaryCall::~GrpcUnaryCall() { loop_->disarm_timer(&timer_); }

GrpcUnaryCall* GrpcUnaryCall::start(Loop* loop, UpstreamPool* pool, std::string_view path,
                                    std::string_view request, const GrpcCallOptions& options,
                                    GrpcCallDone* done) {
  auto* call = new GrpcUnaryCall(loop, pool, done, options.max_recv_bytes);
  if (request.size() > options.max_send_bytes) {
    call->fail(GrpcCallStatus::kTooLarge, "request message over max_send_bytes");
    return call;
  }
  RequestHead& h = call->head_;
  h.method = "POST";
  h.scheme = "http";
  h.authority = options.authority.empty() ? std::string("localhost") : options.authority;
  h.path.assign(path);
  h.headers.push_back({"content-type", "application/grpc"});
  h.headers.push_back({"te", "trailers"});
  h.headers.push_back({"grpc-timeout", format_grpc_timeout(options.timeout_ms)});
  h.headers.push_back({"user-agent", "ringway"});
  call->body_ = grpc_frame(request);
  loop->arm_timer(&call->timer_, options.timeout_ms);
  call->waiting_for_stream_ = true;
  pool->request_stream(call);  // may answer at once (then the result waits a turn)
  return call;
}

void GrpcUnaryCall::cancel() {
  if (waiting_for_stream_) pool_->cancel_request(this);
  waiting_for_stream_ = false;
  if (up_) {
    UpstreamStream* up = up_;
    up_ = nullptr;
    up->cancel();
  }
  if (deferred_queued_) {
    // On the loop's end-of-turn list: freed from there, without a callback.
    cancelled_ = true;
    loop_->disarm_timer(&timer_);
    return;
  }
  delete this;
}

void GrpcUnaryCall::on_upstream_ready(UpstreamStream* stream) {
  waiting_for_stream_ = false;
  up_ = stream;
  up_->send_request_head(head_, false);
  if (!up_) return;  // failed at once
  up_->send_request_data(Slice::copy_of(body_.data(), static_cast<uint32_t>(body_.size())));
  if (up_) up_->send_request_end(nullptr);
  std::string().swap(body_);  // a large message is not kept while waiting
}

void GrpcUnaryCall::on_upstream_failed(const UpstreamError& error) {
  waiting_for_stream_ = false;
  up_ = nullptr;  // no more callbacks
  fail(GrpcCallStatus::kUnavailable, error.message);
}

void GrpcUnaryCall::on_response_head(ResponseHead& head, bool end_stream) {
  if (finished_) return;
  if (head.status != 200) {
    fail(GrpcCallStatus::kProtocol, "HTTP status " + std::to_string(head.status));
    return;
  }
  const Header* ct = find(head.headers, "content-type");
  if (!ct || !is_grpc_content_type(ct->value)) {
    fail(GrpcCallStatus::kProtocol, "not a gRPC reply (content-type)");
    return;
  }
  if (end_stream) finish(head.headers);  // trailers-only
}

void GrpcUnaryCall::on_response_data(Slice data) {
  if (finished_) return;
  if (up_) up_->consume_response_bytes(data.size());
  if (received_.size() + data.size() > static_cast<uint64_t>(max_recv_) + 5) {
    fail(GrpcCallStatus::kTooLarge, "reply message over max_recv_bytes");
    return;
  }
  received_.append(data.data(), data.size());
}

void GrpcUnaryCall::on_response_end(const HeaderList* trailers) {
  up_ = nullptr;  // the stream is done
  if (finished_) return;
  static const HeaderList kNone;
  finish(trailers ? *trailers : kNone);
}

void GrpcUnaryCall::finish(const HeaderList& trailers) {
  const Header* status = find(trailers, "grpc-status");
  if (!status) {
    fail(GrpcCallStatus::kProtocol, "no grpc-status in the reply");
    return;
  }
  int code = 0;
  for (char c : status->value.view()) {
    if (c < '0' || c > '9' || code > 1000) {
      fail(GrpcCallStatus::kProtocol, "grpc-status is not a number");
      return;
    }
    code = code * 10 + (c - '0');
  }
  if (code != 0) {
    const Header* message = find(trailers, "grpc-message");
    result_.grpc_status = code;
    // DEADLINE_EXCEEDED: the server saw the grpc-timeout we sent run out first.
    constexpr int kDeadlineExceeded = 4;
    fail(code == kDeadlineExceeded ? GrpcCallStatus::kDeadline : GrpcCallStatus::kError,
         message ? message->value.str() : std::string());
    return;
  }
  // Exactly one uncompressed message.
  if (received_.size() < 5) {
    fail(GrpcCallStatus::kProtocol, "no reply message");
    return;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(received_.data());
  if (p[0] != 0) {
    fail(GrpcCallStatus::kProtocol, "compressed reply (no grpc-encoding was offered)");
    return;
  }
  uint64_t length = (uint64_t{p[1]} << 24) | (uint64_t{p[2]} << 16) | (uint64_t{p[3]} << 8) | p[4];
  if (length + 5 != received_.size()) {
    fail(GrpcCallStatus::kProtocol, "reply framing: not exactly one message");
    return;
  }
  result_.status = GrpcCallStatus::kOk;
  result_.message = received_.substr(5);
  received_.clear();
  deliver_later();
}

void GrpcUnaryCall::fail(GrpcCallStatus status, std::string reason) {
  if (finished_) return;
  if (waiting_for_stream_) {
    waiting_for_stream_ = false;
    pool_->cancel_request(this);
  }
  if (up_) {
    UpstreamStream* up = up_;
    up_ = nullptr;
    up->cancel();  // no callbacks follow
  }
  result_.status = status;
  result_.reason = std::move(reason);
  result_.message.clear();
  deliver_later();
}

void GrpcUnaryCall::deliver_later() {
  finished_ = true;
  loop_->disarm_timer(&timer_);
  // Never from inside start() or a pool's callback: at the end of this turn (the
  // request it answers then goes on, and its writes leave, within the same turn).
  loop_->queue_deferred(this);
}

void GrpcUnaryCall::run_deferred() {
  if (cancelled_) {
    delete this;
    return;
  }
  GrpcCallDone* done = done_;
  GrpcCallResult result = std::move(result_);
  delete this;
  done->on_grpc_call_done(result);
}

void GrpcUnaryCall::on_timer(Timer* timer) {
  auto* call = static_cast<GrpcUnaryCall*>(timer->owner);
  // The deadline: the stream is reset (RST_STREAM CANCEL), the result goes out at the
  // end of the turn.
  if (!call->finished_) call->fail(GrpcCallStatus::kDeadline, "the call's deadline passed");
}

}  // namespace ringway
