// Cost of normalising a request path (http/path_normalize.h) per request: the fast
// path that only scans, and a path that needs every step. The rewriting case copies
// its input back each iteration (into the same buffer, no allocation); BM_CopyOnly
// measures that copy alone.

#include <benchmark/benchmark.h>

#include <string>

#include "http/path_normalize.h"

namespace ringway {
namespace {

void run_unchanged(benchmark::State& state, const char* path) {
  std::string target = path;
  PathNormalizeOptions options;
  for (auto _ : state) {
    PathNormalizeResult r = normalize_request_path(target, options);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  if (target != path) state.SkipWithError("path was rewritten");
}

void BM_GrpcPath(benchmark::State& state) { run_unchanged(state, "/helloworld.Greeter/SayHello"); }
BENCHMARK(BM_GrpcPath);

void BM_RestPathWithQuery(benchmark::State& state) {
  run_unchanged(state, "/api/v1/users/12345/orders?status=open&limit=50&sort=-created_at");
}
BENCHMARK(BM_RestPathWithQuery);

constexpr const char* kNeedsWork = "/a/./b/../c//d%41";

void BM_PathNeedingWork(benchmark::State& state) {
  const std::string input = kNeedsWork;
  std::string target;
  target.reserve(input.size());
  PathNormalizeOptions options;
  for (auto _ : state) {
    target.assign(input);
    PathNormalizeResult r = normalize_request_path(target, options);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  if (target != "/a/c/dA") state.SkipWithError("unexpected result");
}
BENCHMARK(BM_PathNeedingWork);

void BM_CopyOnly(benchmark::State& state) {
  const std::string input = kNeedsWork;
  std::string target;
  target.reserve(input.size());
  for (auto _ : state) {
    target.assign(input);
    benchmark::DoNotOptimize(target.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_CopyOnly);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
