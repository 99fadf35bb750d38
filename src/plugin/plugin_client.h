#pragma once
// A shard's client of the rich-plugin server (Tyk's coprocess.Dispatcher): Dispatch
// calls as GrpcUnaryCalls on the shard's HTTP/2 pool to coprocess_grpc_server, bounded
// in number (max_in_flight: beyond it a call is refused at once and the request gets
// 503 / UNAVAILABLE rather than a queue), with counters and latency per hook type for
// /metrics. Replies are parsed here; one that is not a coprocess.Object is an error
// like any other failed call. One per shard, its thread only.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include <google/protobuf/arena.h>

#include "coprocess_object.pb.h"
#include "plugin/grpc_call.h"

namespace ringway {

class Loop;
class UpstreamPool;

struct PluginClientSettings {
  std::string authority;  // :authority (grpc_authority, else the target's host:port)
  uint32_t timeout_ms = 1000;
  uint32_t max_send_bytes = 4194304;
  uint32_t max_recv_bytes = 4194304;
  uint32_t max_in_flight = 1024;
};

// Per hook type (coprocess::HookType 0..5).
struct PluginHookStats {
  uint64_t calls = 0;
  uint64_t errors = 0;    // any failure (unavailable, status, protocol, size, parse)
  uint64_t timeouts = 0;  // of which: the deadline passed
  uint64_t refused = 0;   // max_in_flight reached: not sent
  uint64_t latency_us_sum = 0;  // of the calls that were answered
};

struct PluginReply {
  GrpcCallStatus status = GrpcCallStatus::kOk;
  int grpc_status = 0;
  std::string reason;
  // The plugin's reply (kOk), parsed onto an arena: its maps and strings come from
  // a few blocks freed at once rather than one allocation each.
  google::protobuf::Arena arena;
  coprocess::Object& object = *google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
};

class PluginReplyDone {
 public:
  virtual void on_plugin_reply(PluginReply& reply) = 0;

 protected:
  ~PluginReplyDone() = default;
};

class PluginClient {
 public:
  // A call in progress; cancel() it when the request goes away (no reply follows).
  class Call;

  // |stats|: where calls are counted (the shard's, across generations); null: the
  // client's own.
  PluginClient(Loop* loop, std::shared_ptr<UpstreamPool> pool, PluginClientSettings settings,
               std::string dispatch_path = "/coprocess.Dispatcher/Dispatch",
               std::array<PluginHookStats, 6>* stats = nullptr);
  // Cancels the calls still in flight (their callers hear nothing more).
  ~PluginClient();
  PluginClient(const PluginClient&) = delete;
  PluginClient& operator=(const PluginClient&) = delete;

  // Sends |object| to the plugin; |done| hears back later (never from inside this
  // call). Null when max_in_flight calls are out: nothing was sent.
  Call* dispatch(const coprocess::Object& object, PluginReplyDone* done);
  // The same with the message already serialised (|hook_type| for the counters).
  Call* dispatch(int hook_type, std::string_view message, PluginReplyDone* done);
  void cancel(Call* call);
  // DispatchEvent(Event{payload}), fire and forget (the reply is empty in the
  // protocol); counted in |sent| / |failed|. False when max_in_flight calls are out.
  bool dispatch_event(std::string payload, uint64_t* sent, uint64_t* failed);

  uint32_t in_flight() const { return in_flight_; }
  const std::array<PluginHookStats, 6>& stats() const { return *stats_; }

 private:
  friend class Call;
  class EventCall;
  void finished(Call* call, PluginReply& reply, PluginReplyDone* done);
  void event_finished(EventCall* call);

  Loop* loop_;
  std::shared_ptr<UpstreamPool> pool_;
  PluginClientSettings settings_;
  GrpcCallOptions options_;
  std::string dispatch_path_;
  uint32_t in_flight_ = 0;
  std::unordered_set<Call*> calls_;  // in flight: cancelled if the client goes first
  std::unordered_set<EventCall*> events_;
  std::array<PluginHookStats, 6> own_stats_{};
  std::array<PluginHookStats, 6>* stats_;
};

}  // namespace ringway
