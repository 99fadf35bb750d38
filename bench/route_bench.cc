// Hot-path cost of choosing an API and preparing the upstream request head. The
// table has 50 APIs, like a mid-sized Tyk deployment: a mix of host-less and
// host-specific entries, nested prefixes, and a catch-all.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "pipeline/rewrite.h"
#include "route/router.h"

namespace ringway {
namespace {

std::vector<ApiConfig> make_apis() {
  std::vector<ApiConfig> apis;
  for (int i = 0; i < 48; ++i) {
    ApiConfig api;
    api.name = "svc" + std::to_string(i);
    // Every fourth API is nested under the previous one ("/svc4/v2" under "/svc4").
    api.listen_path = (i % 4 == 3) ? "/svc" + std::to_string(i - 1) + "/v2"
                                   : "/svc" + std::to_string(i);
    if (i % 3 == 0) api.hosts = {"api" + std::to_string(i) + ".example.com", "www.example.com"};
    api.strip_listen_path = true;
    api.target.authority = "10.0.0." + std::to_string(i + 1) + ":8080";
    api.target.base_path = "/internal";
    api.use_keyless = true;
    apis.push_back(std::move(api));
  }
  ApiConfig root;
  root.name = "root";
  root.listen_path = "/";
  root.use_keyless = true;
  apis.push_back(root);
  ApiConfig grpc;
  grpc.name = "grpc";
  grpc.listen_path = "/helloworld.Greeter/";
  grpc.target.protocol = UpstreamProtocol::Http2;
  grpc.target.authority = "10.0.1.1:50051";
  grpc.use_keyless = true;
  apis.push_back(grpc);
  return apis;
}

const std::vector<ApiConfig>& apis() {
  static const std::vector<ApiConfig> table = make_apis();
  return table;
}

void BM_RouterMatchNested(benchmark::State& state) {
  Router router(apis());
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.match("gateway.example.com:8080", "/svc42/v2/orders/17?x=1"));
  }
}
BENCHMARK(BM_RouterMatchNested);

void BM_RouterMatchHostSpecific(benchmark::State& state) {
  Router router(apis());
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.match("API45.Example.com:443", "/svc45/items"));
  }
}
BENCHMARK(BM_RouterMatchHostSpecific);

void BM_RouterMatchGrpcMethod(benchmark::State& state) {
  Router router(apis());
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.match("gateway:8080", "/helloworld.Greeter/SayHello"));
  }
}
BENCHMARK(BM_RouterMatchGrpcMethod);

// Falls through every entry to the catch-all: the worst case for a linear table.
void BM_RouterMatchCatchAll(benchmark::State& state) {
  Router router(apis());
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.match("gateway.example.com", "/static/app.js"));
  }
}
BENCHMARK(BM_RouterMatchCatchAll);

RequestHead make_request() {
  RequestHead request;
  request.method = "POST";
  request.authority = "gateway.example.com";
  request.path = "/svc40/orders/17?expand=items";
  request.headers = {{"user-agent", "bench/1.0"},
                     {"accept", "application/json"},
                     {"content-type", "application/json"},
                     {"authorization", "Bearer abcdefghijklmnopqrstuvwxyz0123456789"},
                     {"connection", "keep-alive"},
                     {"x-request-id", "6f1c8a52-1d1e-4b8c-9a64-0e6d6a1f3b21"},
                     {"x-forwarded-for", "203.0.113.9"},
                     {"accept-encoding", "gzip, br"},
                     {"te", "trailers"}};
  request.content_length = 128;
  return request;
}

// Baseline for the next benchmark, which must copy the head before rewriting it.
void BM_RequestHeadCopy(benchmark::State& state) {
  const RequestHead original = make_request();
  for (auto _ : state) {
    RequestHead request = original;
    benchmark::DoNotOptimize(request);
  }
}
BENCHMARK(BM_RequestHeadCopy);

void BM_RewriteRequestForUpstream(benchmark::State& state) {
  const ApiConfig& api = apis()[40];
  const RequestHead original = make_request();
  const ForwardContext context{"192.0.2.7", "http"};
  for (auto _ : state) {
    RequestHead request = original;
    rewrite_request_for_upstream(request, api, context);
    benchmark::DoNotOptimize(request);
  }
}
BENCHMARK(BM_RewriteRequestForUpstream);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
