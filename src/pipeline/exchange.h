#pragma once
// One proxied request: routes it (taking the shard's newest configuration
// generation), runs its API's filter chain (which may stop and resume later), asks
// the API's pool for an upstream stream, relays the request body up and the response
// down with back-pressure, retries requests the upstream did not process, enforces
// the upstream timeout, the stall timeouts of both bodies, the request body limit and
// the gRPC deadline, makes local replies, and writes the access-log line and the
// API's counters.
//
// Lifetime: created by the ProxyHandlerFactory when a request head is complete;
// deletes itself once neither side references it:
//  - it stops calling the downstream after send_response_end, send_local_reply or
//    abort_response (the codec forgets it then too), or when the codec reports the
//    client gone (on_downstream_reset);
//  - the upstream stops calling it after on_response_end or on_upstream_failed, and
//    it stops calling the upstream after cancel().

#include <cstdint>
#include <string>

#include "filter/filter.h"
#include "filter/filter_runner.h"
#include "http/downstream.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "http/upstream.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"
#include "mem/slice.h"
#include "mem/slice_queue.h"

namespace ringway {

struct ApiRoute;
class ProxyGeneration;
struct ProxyShard;
class UpstreamPool;

class Exchange final : public RequestHandler,
                       public UpstreamCallbacks,
                       public FilterCallbacks,
                       private FilterRunner::Owner,
                       public PoolAllocated<Exchange> {
 public:
  Exchange(ProxyShard* shard, ServerStream* down, const DownstreamInfo& info);
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // RequestHandler (from the downstream codec)
  void on_request_head(RequestHead&& head, bool end_stream) override;
  void on_request_data(Slice data) override;
  void on_request_end(const HeaderList* trailers) override;
  void on_response_bytes_sent(uint32_t bytes) override;
  void on_downstream_reset() override;
  void on_request_error() override;

  // UpstreamCallbacks (from the pool and the upstream stream)
  void on_upstream_ready(UpstreamStream* up) override;
  void on_upstream_failed(const UpstreamError& error) override;
  void on_response_head(ResponseHead& head, bool end_stream) override;
  void on_response_data(Slice data) override;
  void on_response_end(const HeaderList* trailers) override;
  void on_request_bytes_sent(uint32_t bytes) override;

  // FilterCallbacks (from the API's filters)
  RequestHead& request() override { return request_; }
  const DownstreamInfo& downstream() const override { return *info_; }
  const ApiConfig& api() const override;
  bool is_grpc() const override { return grpc_; }
  void continue_request() override;
  void reply_locally(LocalReplyCause cause, std::string_view message,
                     const HeaderList* extra_headers = nullptr) override;
  void set_pending(PendingOperation* operation) override { runner_.set_pending(operation); }
  RequestIdentity& identity() override { return identity_; }
  RequestBody request_body_state() const override { return body_state_; }
  bool wait_for_request_body(uint64_t limit) override;
  std::string request_body() const override;
  void replace_request_body(std::string body) override;
  void reply_with(ResponseHead& head, std::string body) override;
  void continue_response() override;

 private:
  ~Exchange();
  // FilterRunner::Owner
  void on_filters_passed() override;
  void on_held_response_passed() override;

  // The held response (response filters that wait): body arriving meanwhile.
  void hold_response_data(Slice data);
  void start_held_response();
  // Ends a request answered while its response was held or buffered.
  void end_held_upstream();
  // Sends the gateway's (or a filter's) reply instead of the upstream's, if the
  // client has seen nothing yet; a held upstream response is dropped.
  void answer_downstream(ResponseHead& head, std::string_view body);

  static void on_timeout(Timer* timer);
  static void on_deadline(Timer* timer);
  static void on_body_timer(Timer* timer);
  // upstream_read_timeout_ms passed without response body bytes.
  void on_read_stall();
  // The request body went over max_request_body_bytes.
  void reject_large_body();
  // Ends the exchange for |cause| after the response has started (or with a local
  // reply if it has not): the upstream request is cancelled.
  void abandon(LocalReplyCause cause, std::string_view message);
  // Ends the request with a local reply (cancelling a filter that waits).
  void finish_locally(LocalReplyCause cause, std::string_view message,
                      const HeaderList* extra_headers = nullptr);
  // |avoid_idle|: not on an idle keep-alive connection (one just proved closed).
  void send_upstream(bool avoid_idle = false);
  // Body bytes handed towards the upstream (sent, or held until a stream is ready).
  void forward_body(Slice data);
  void hold_request_data(Slice data);
  bool can_retry(const UpstreamError& error) const;
  void retry(bool avoid_idle);
  void detach_upstream();
  void credit_client(uint32_t bytes);
  void maybe_pause_request();
  void set_flag(LocalReplyCause cause) { flag_ = local_reply_flag(cause); }
  // Runs |f| while a filter or a pool may end the exchange from inside it, then lets
  // a destruction that became due happen. Callers return right after.
  template <class F>
  void guarded(F&& f) {
    ++guard_;
    f();
    --guard_;
    if (destroy_pending_) maybe_destroy();
  }
  void maybe_destroy();
  void write_access_log();

  ProxyShard* shard_;
  ServerStream* down_;
  const DownstreamInfo* info_;  // valid while down_ is set
  DownstreamProtocol protocol_;
  ProxyGeneration* generation_ = nullptr;  // acquired from the head until the end
  const ApiRoute* route_ = nullptr;
  UpstreamStream* up_ = nullptr;
  UpstreamPool* pool_ = nullptr;  // non-null while waiting for a stream
  FilterRunner runner_;
  RequestHead request_;
  std::string client_address_;
  std::string log_path_;  // the normalised path (as sent when it could not be)
  SliceQueue pending_body_;  // request body not yet handed to an upstream stream
  HeaderList pending_trailers_;
  bool has_pending_trailers_ = false;
  // A copy of the body already sent, kept (up to upstream_retry_buffer_bytes) so a
  // request the upstream did not process can be sent again.
  SliceQueue replay_body_;
  uint64_t replay_bytes_ = 0;
  bool replayable_ = true;  // every body byte sent so far is in replay_body_
  uint64_t body_received_ = 0;  // request body bytes from the client
  uint64_t body_credited_ = 0;  // of which returned to the client's window
  uint64_t body_in_flight_ = 0;  // handed upstream (or held), not yet on its socket
  uint64_t response_bytes_pending_ = 0;  // handed downstream, not yet on its socket
  bool request_ended_ = false;
  bool request_paused_ = false;
  bool response_paused_ = false;
  bool response_started_ = false;
  bool grpc_ = false;
  bool logged_ = false;
  bool request_had_body_ = false;
  uint8_t retries_ = 0;
  uint16_t guard_ = 0;            // > 0 while a filter or a pool may call back into us
  bool destroy_pending_ = false;  // maybe_destroy() ran under the guard
  int status_ = 0;
  const char* flag_ = "-";        // why the reply was local (access log), or "-"
  uint64_t response_body_bytes_ = 0;
  uint64_t start_us_;
  uint64_t upstream_start_us_ = 0;  // the request head went to a stream
  // Waiting on the upstream: upstream_timeout_ms for the response head, then
  // upstream_read_timeout_ms between response body bytes (not for gRPC). Progress
  // only moves upstream_activity_ms_; the timer checks it when it fires.
  Timer timeout_;
  uint64_t upstream_activity_ms_ = 0;
  // client_body_timeout_ms between request body bytes (not for gRPC), checked the
  // same way against body_activity_ms_.
  Timer body_timer_;
  uint64_t body_activity_ms_ = 0;
  bool has_deadline_ = false;
  uint64_t deadline_ms_ = 0;  // gRPC: from the request's grpc-timeout
  Timer deadline_timer_;
  // Filters after authentication see who the request is.
  RequestIdentity identity_;
  // A filter waits for the whole request body (held in pending_body_, up to
  // body_limit_, the client credited as it arrives).
  RequestBody body_state_ = RequestBody::kNone;
  uint64_t body_limit_ = 0;
  // The response is kept from the client while filters look at it.
  HeldResponse held_;
  bool response_held_ = false;    // the head (and maybe body) not yet sent downstream
  bool held_stage_started_ = false;  // the filters have it (else still buffering)
  bool upstream_ended_ = false;   // the upstream's response ended while held
  bool has_held_trailers_ = false;
  SliceQueue held_data_;          // streamed body that arrived while the head was held
  uint64_t held_data_bytes_ = 0;
  uint64_t response_precredited_ = 0;  // buffered bytes already credited upstream
};

}  // namespace ringway
