// HTTP/1.1 head serialization, done once per request and once per response on the
// proxy path.

#include <string>

#include <benchmark/benchmark.h>

#include "http1/h1_serialize.h"

namespace ringway {
namespace {

RequestHead typical_request() {
  RequestHead r;
  r.method = "GET";
  r.authority = "backend.internal:8080";
  r.path = "/api/v1/orders/12345?expand=items";
  r.headers = {{"user-agent", "curl/7.88.1"},
               {"accept", "application/json"},
               {"x-request-id", "6f1d2c5e-8a41-4b2e-9a57-3c4d5e6f7a8b"},
               {"x-forwarded-for", "203.0.113.7"},
               {"x-forwarded-proto", "http"}};
  return r;
}

void BM_AppendRequestHead(benchmark::State& state) {
  RequestHead r = typical_request();
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_request_head(out, r, BodyFraming::None, 0);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_AppendRequestHead);

void BM_AppendResponseHead(benchmark::State& state) {
  ResponseHead h;
  h.status = 200;
  h.headers = {{"content-type", "application/json"},
               {"date", "Wed, 25 Nov 2026 16:00:00 GMT"},
               {"server", "backend"},
               {"cache-control", "no-store"}};
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_response_head(out, h, BodyFraming::ContentLength, 1234, true);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_AppendResponseHead);

void BM_ChunkHeader(benchmark::State& state) {
  char buf[24];
  uint64_t n = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(format_chunk_header(buf, n));
    n = n * 7 + 3;
  }
}
BENCHMARK(BM_ChunkHeader);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
