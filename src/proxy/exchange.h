#pragma once
// One proxied request: routes it, asks the shard's pool for an upstream stream,
// relays the request body up and the response down with back-pressure, enforces the
// upstream timeout, makes local replies, and writes the access-log line.
//
// Lifetime: created by a downstream codec when a request head is complete; deletes
// itself once neither side references it (see detach rules in streams.h callers):
//  - the exchange stops calling the downstream after send_response_end,
//    send_local_reply or abort_response (the downstream forgets it then too), or when
//    the downstream reports the client gone (on_downstream_reset);
//  - the upstream stops calling the exchange after on_response_end or
//    on_upstream_failed, and the exchange stops calling it after cancel().

#include <cstdint>
#include <deque>

#include "auth/client_cert.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"
#include "mem/slice.h"
#include "proxy/proxy_context.h"
#include "proxy/streams.h"

namespace ringway {

class UpstreamPool;

class Exchange : public PoolAllocated<Exchange> {
 public:
  // |client_cert| (TLS connections with a handshake done, else null) is read only
  // by on_request_head, which the codec calls right after construction.
  Exchange(ProxyContext* ctx, DownstreamStream* down, std::string_view client_address,
           std::string_view client_scheme, const ClientCert* client_cert);
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // --- from the downstream codec ---
  // The request head is complete; |end_stream| when the request has no body.
  void on_request_head(RequestHead&& head, bool end_stream);
  void on_request_data(Slice data);
  void on_request_end(const HeaderList* trailers);
  // Response bytes reached the client's socket.
  void on_response_bytes_sent(uint32_t bytes);
  // The client went away or reset the stream; the downstream forgets the exchange.
  void on_downstream_reset();
  // Protocol error in the request body (e.g. bad chunk encoding) after the head.
  void on_request_error();

  // --- from the upstream pool / stream ---
  void on_upstream_ready(UpstreamStream* up);
  // Connecting or the stream failed. |timed_out| selects 504 over 502.
  void on_upstream_failed(LocalReplyCause cause, const char* message);
  // The upstream refused the stream before processing it (REFUSED_STREAM, or above a
  // GOAWAY's last stream id): retried once on another stream when the request has no
  // body (nothing was lost), otherwise reported like on_upstream_failed.
  void on_upstream_refused();
  void on_response_head(ResponseHead& head, bool end_stream);
  void on_response_data(Slice data);
  void on_response_end(const HeaderList* trailers);
  // Request bytes reached the upstream's socket.
  void on_request_bytes_sent(uint32_t bytes);

  bool is_grpc() const { return grpc_; }
  const RequestHead& request() const { return request_; }
  const ApiConfig* api() const { return api_; }

 private:
  ~Exchange();
  static void on_timeout(Timer* timer);
  static void on_deadline(Timer* timer);
  void reply_locally(LocalReplyCause cause, const char* message);
  void hold_request_data(Slice data);
  void maybe_destroy();
  void write_access_log();

  ProxyContext* ctx_;
  DownstreamStream* down_;
  UpstreamStream* up_ = nullptr;
  UpstreamPool* pool_ = nullptr;  // non-null while waiting for a stream
  const ApiConfig* api_ = nullptr;
  RequestHead request_;
  std::string client_address_;
  std::string client_scheme_;
  const ClientCert* client_cert_;  // null after on_request_head
  std::string log_path_;  // the path as the client sent it
  std::deque<Slice> pending_body_;  // request body received before the upstream was ready
  HeaderList pending_trailers_;
  bool has_pending_trailers_ = false;
  uint64_t request_bytes_pending_ = 0;   // handed upstream, not yet on its socket
  uint64_t response_bytes_pending_ = 0;  // handed downstream, not yet on its socket
  bool request_ended_ = false;
  bool request_paused_ = false;
  bool response_paused_ = false;
  bool response_started_ = false;
  bool grpc_ = false;
  bool logged_ = false;
  bool request_had_body_ = false;
  uint8_t retries_ = 0;  // at most kMaxRetries re-tries after a refused stream
  int status_ = 0;
  uint64_t response_body_bytes_ = 0;
  uint64_t start_us_;
  Timer timeout_;           // upstream_timeout_ms: waiting for the response head
  bool has_deadline_ = false;
  uint64_t deadline_ms_ = 0;  // gRPC: from the request's grpc-timeout
  Timer deadline_timer_;
};

}  // namespace ringway
