// Cost of the plugin message work per hook call (plugin/hook_mapping.h and the
// coprocess messages): building the Object a pre hook is sent for a typical request
// (on an arena, as the hook filters do) and serialising it; parsing the plugin's reply
// and applying it to the request (two headers set, one deleted).

#include <benchmark/benchmark.h>

#include <string>

#include <google/protobuf/arena.h>

#include "coprocess_object.pb.h"
#include "plugin/hook_mapping.h"

namespace ringway {
namespace {

RequestHead typical_request() {
  RequestHead head;
  head.method = "GET";
  head.authority = "api.example.com";
  head.path = "/orders/v1/items?limit=20&page=3";
  head.headers = {{"user-agent", "curl/7.88.1"},
                  {"accept", "application/json"},
                  {"authorization", "Bearer 0123456789abcdef0123456789abcdef"},
                  {"x-request-id", "5f3c2a1b-9e8d-4c7b-a6f5-e4d3c2b1a0f9"},
                  {"x-forwarded-for", "10.1.2.3"}};
  return head;
}

// What every call of a hook sends alike (the hook filters serialise it once).
std::string fixed_part() {
  coprocess::Object fixed;
  fixed.set_hook_type(coprocess::Pre);
  fixed.set_hook_name("MyPreHook");
  auto* spec = fixed.mutable_spec();
  (*spec)["APIID"] = "orders";
  (*spec)["OrgID"] = "";
  (*spec)["bundle_hash"] = "d41d8cd98f00b204e9800998ecf8427e";
  return fixed.SerializeAsString();
}

void fill(coprocess::Object* object, const RequestHead& head) {
  build_mini_request(head, "https", std::string_view(), object->mutable_request());
}

// As the hook filters do it: the request part on an arena, serialised, the fixed part
// appended.
void BM_BuildAndSerializePreHook(benchmark::State& state) {
  RequestHead head = typical_request();
  const std::string fixed = fixed_part();
  size_t bytes = 0;
  for (auto _ : state) {
    google::protobuf::Arena arena;
    auto* object = google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
    fill(object, head);
    std::string wire;
    wire.reserve(object->ByteSizeLong() + fixed.size());
    object->AppendToString(&wire);
    wire += fixed;
    bytes = wire.size();
    benchmark::DoNotOptimize(wire);
  }
  state.counters["message_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_BuildAndSerializePreHook);

void BM_ParseAndApplyReply(benchmark::State& state) {
  RequestHead original = typical_request();
  coprocess::Object reply;
  fill(&reply, original);
  reply.MergeFromString(fixed_part());  // the plugin echoes the whole object
  (*reply.mutable_request()->mutable_set_headers())["X-Tenant"] = "acme";
  (*reply.mutable_request()->mutable_set_headers())["X-Plan"] = "gold";
  reply.mutable_request()->add_delete_headers("X-Forwarded-For");
  const std::string wire = reply.SerializeAsString();
  for (auto _ : state) {
    RequestHead head = original;
    google::protobuf::Arena arena;
    auto* parsed = google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
    bool ok = parsed->ParseFromString(wire);
    std::string body, error;
    ok &= apply_request_changes(parsed->request(), head, &body, false, &error);
    if (!ok) state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(head);
  }
}
BENCHMARK(BM_ParseAndApplyReply);

// The copy of the request head the apply step works on, alone (to subtract).
void BM_CopyRequestHeadOnly(benchmark::State& state) {
  RequestHead original = typical_request();
  for (auto _ : state) {
    RequestHead head = original;
    benchmark::DoNotOptimize(head);
  }
}
BENCHMARK(BM_CopyRequestHeadOnly);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
