#pragma once
// One unary gRPC call (the plugin client's transport), sent on a stream from an
// HTTP/2 upstream pool like any proxied request: no gRPC C++ in the gateway, the
// shard's nghttp2 client code and pools (reconnect backoff included), and whatever
// calls a loop turn makes leave with that turn's writes.
//
// The request: POST |path| with content-type application/grpc, te: trailers, a
// non-empty :authority and grpc-timeout from the call's deadline; the body is the
// message behind gRPC's 5-byte length prefix. The reply must be HTTP 200 with
// application/grpc, one uncompressed message of at most max_recv_bytes and
// grpc-status 0 in the trailers (or a trailers-only error).
//
// Lifetime: start() returns the call; exactly one on_grpc_call_done() follows, at the
// end of the loop turn the answer came in (never from inside start() or a pool's
// callback), after which the call is gone — unless the caller cancel()s it first:
// no callback follows then.

#include <cstdint>
#include <string>
#include <string_view>

#include "http/upstream.h"
#include "io/loop.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"

namespace ringway {

class Loop;
class UpstreamPool;

struct GrpcCallOptions {
  std::string authority;          // never empty
  uint32_t timeout_ms = 1000;     // the deadline, sent as grpc-timeout
  uint32_t max_send_bytes = 4194304;
  uint32_t max_recv_bytes = 4194304;
};

enum class GrpcCallStatus : uint8_t {
  kOk,           // |message| is the reply
  kUnavailable,  // no connection, or it failed (gRPC 14 territory)
  kDeadline,     // timeout_ms passed (here, or at the server: grpc-status 4)
  kError,        // the server answered a non-zero grpc-status
  kProtocol,     // not a gRPC reply (HTTP status, content-type, framing, compression)
  kTooLarge,     // a message over max_send_bytes / max_recv_bytes
};

struct GrpcCallResult {
  GrpcCallStatus status = GrpcCallStatus::kOk;
  int grpc_status = 0;  // as received (kError), 0 otherwise
  std::string reason;   // grpc-message, or what went wrong
  std::string message;  // the reply message (kOk)
};

class GrpcCallDone {
 public:
  virtual void on_grpc_call_done(GrpcCallResult& result) = 0;

 protected:
  ~GrpcCallDone() = default;
};

const char* grpc_call_status_name(GrpcCallStatus status);

class GrpcUnaryCall final : private UpstreamCallbacks,
                            private Deferred,
                            public PoolAllocated<GrpcUnaryCall> {
 public:
  static GrpcUnaryCall* start(Loop* loop, UpstreamPool* pool, std::string_view path,
                              std::string_view request, const GrpcCallOptions& options,
                              GrpcCallDone* done);
  void cancel();

 private:
  GrpcUnaryCall(Loop* loop, UpstreamPool* pool, GrpcCallDone* done, uint32_t max_recv);
  ~GrpcUnaryCall();

  // UpstreamCallbacks
  void on_upstream_ready(UpstreamStream* stream) override;
  void on_upstream_failed(const UpstreamError& error) override;
  void on_response_head(ResponseHead& head, bool end_stream) override;
  void on_response_data(Slice data) override;
  void on_response_end(const HeaderList* trailers) override;
  void on_request_bytes_sent(uint32_t) override {}

  // Deferred: the result is delivered (or a cancelled call freed) at the end of the
  // turn, so the request it answers goes on within the same turn.
  void run_deferred() override;

  // Stops the stream (or the wait for one) and delivers |result| at the end of the
  // turn.
  void fail(GrpcCallStatus status, std::string reason);
  // The trailers (or a trailers-only head) decide the result.
  void finish(const HeaderList& trailers);
  void deliver_later();
  static void on_timer(Timer* timer);

  Loop* loop_;
  UpstreamPool* pool_;
  UpstreamStream* up_ = nullptr;
  GrpcCallDone* done_;
  uint32_t max_recv_;
  RequestHead head_;
  std::string body_;      // the framed request
  std::string received_;  // the framed reply
  bool waiting_for_stream_ = false;
  bool finished_ = false;  // |result_| is final; run_deferred delivers it
  bool cancelled_ = false;  // cancelled while queued: run_deferred frees it
  GrpcCallResult result_;
  Timer timer_;  // the deadline
};

// gRPC's 5-byte message prefix: 0 (uncompressed) and the length, big-endian.
std::string grpc_frame(std::string_view message);

}  // namespace ringway
