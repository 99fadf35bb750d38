#include "plugin/plugin_client.h"

#include "io/loop.h"
#include "upstream/pool.h"

namespace ringway {

class PluginClient::Call final : public GrpcCallDone {
 public:
  Call(PluginClient* client, PluginReplyDone* done, int hook, uint64_t start_us)
      : client_(client), done_(done), hook_(hook), start_us_(start_us) {}
  void on_grpc_call_done(GrpcCallResult& result) override {
    transport_ = nullptr;  // gone after this callback
    PluginReply reply;
    reply.status = result.status;
    reply.grpc_status = result.grpc_status;
    reply.reason = std::move(result.reason);
    if (result.status == GrpcCallStatus::kOk &&
        !reply.object.ParseFromString(result.message)) {
      reply.status = GrpcCallStatus::kProtocol;
      reply.reason = "the plugin's reply is not a coprocess.Object";
    }
    client_->finished(this, reply, done_);
  }

  PluginClient* client_;
  PluginReplyDone* done_;
  int hook_;
  uint64_t start_us_;
  GrpcUnaryCall* transport_ = nullptr;
};

class PluginClient::EventCall final : public GrpcCallDone {
 public:
  EventCall(PluginClient* client, uint64_t* sent, uint64_t* failed)
      : client_(client), sent_(sent), failed_(failed) {}
  void on_grpc_call_done(GrpcCallResult& result) override {
    transport_ = nullptr;
    ++*(result.status == GrpcCallStatus::kOk ? sent_ : failed_);
    client_->event_finished(this);
  }

  PluginClient* client_;
  uint64_t* sent_;
  uint64_t* failed_;
  GrpcUnaryCall* transport_ = nullptr;
};

PluginClient::PluginClient(Loop* loop, std::shared_ptr<UpstreamPool> pool,
                           PluginClientSettings settings, std::string dispatch_path,
                           std::array<PluginHookStats, 6>* stats)
    : loop_(loop),
      pool_(std::move(pool)),
      settings_(std::move(settings)),
      dispatch_path_(std::move(dispatch_path)),
      stats_(stats ? stats : &own_stats_) {
  options_.authority = settings_.authority.empty() ? "localhost" : settings_.authority;
  options_.timeout_ms = settings_.timeout_ms;
  options_.max_send_bytes = settings_.max_send_bytes;
  options_.max_recv_bytes = settings_.max_recv_bytes;
}

PluginClient::~PluginClient() {
  while (!calls_.empty()) cancel(*calls_.begin());
  for (EventCall* e : events_) {
    if (e->transport_) e->transport_->cancel();
    delete e;
  }
}

bool PluginClient::dispatch_event(std::string payload, uint64_t* sent, uint64_t* failed) {
  if (in_flight_ >= settings_.max_in_flight) {
    ++*failed;
    return false;
  }
  coprocess::Event event;
  event.set_payload(std::move(payload));
  ++in_flight_;
  auto* call = new EventCall(this, sent, failed);
  events_.insert(call);
  call->transport_ = GrpcUnaryCall::start(loop_, pool_.get(), "/coprocess.Dispatcher/DispatchEvent",
                                          event.SerializeAsString(), options_, call);
  return true;
}

void PluginClient::event_finished(EventCall* call) {
  --in_flight_;
  events_.erase(call);
  delete call;
}

PluginClient::Call* PluginClient::dispatch(const coprocess::Object& object,
                                           PluginReplyDone* done) {
  return dispatch(object.hook_type(), object.SerializeAsString(), done);
}

PluginClient::Call* PluginClient::dispatch(int hook_type, std::string_view message,
                                           PluginReplyDone* done) {
  int hook = hook_type >= 0 && hook_type < 6 ? hook_type : 0;
  if (in_flight_ >= settings_.max_in_flight) {
    ++(*stats_)[hook].refused;
    return nullptr;
  }
  ++in_flight_;
  ++(*stats_)[hook].calls;
  auto* call = new Call(this, done, hook, loop_->now_us());
  calls_.insert(call);
  call->transport_ = GrpcUnaryCall::start(loop_, pool_.get(), dispatch_path_, message,
                                          options_, call);
  return call;
}

void PluginClient::cancel(Call* call) {
  if (call->transport_) call->transport_->cancel();
  --in_flight_;
  calls_.erase(call);
  delete call;
}

void PluginClient::finished(Call* call, PluginReply& reply, PluginReplyDone* done) {
  PluginHookStats& s = (*stats_)[call->hook_];
  if (reply.status != GrpcCallStatus::kOk) ++s.errors;
  if (reply.status == GrpcCallStatus::kDeadline) ++s.timeouts;
  if (reply.status != GrpcCallStatus::kDeadline) {
    s.latency_us_sum += loop_->now_us() - call->start_us_;
  }
  --in_flight_;
  calls_.erase(call);
  delete call;
  done->on_plugin_reply(reply);
}

}  // namespace ringway
