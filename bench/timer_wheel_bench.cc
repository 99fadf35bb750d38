// Timer wheel costs on the request path: every exchange arms and disarms its upstream
// timeout, every HTTP/1.1 request re-arms the connection's header/idle timer.

#include <vector>

#include <benchmark/benchmark.h>

#include "io/timer_wheel.h"

namespace ringway {
namespace {

void noop(Timer*) {}

// Arm + disarm with |state.range(0)| other timers armed (a shard's idle connections).
void BM_TimerArmDisarm(benchmark::State& state) {
  TimerWheel wheel(0);
  std::vector<Timer> background(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < background.size(); ++i) {
    background[i].callback = noop;
    wheel.arm(&background[i], 1000 + i % 60000);
  }
  Timer t;
  t.callback = noop;
  uint64_t at = 30000;
  for (auto _ : state) {
    wheel.arm(&t, at);
    wheel.disarm(&t);
    at = at % 60000 + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerArmDisarm)->Arg(0)->Arg(10000);

// One loop turn's bookkeeping: advance by 1 ms and compute the next wait, with many
// timers armed far out.
void BM_TimerAdvanceAndNextTimeout(benchmark::State& state) {
  TimerWheel wheel(0);
  std::vector<Timer> background(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < background.size(); ++i) {
    background[i].callback = noop;
    wheel.arm(&background[i], 10000000 + i);
  }
  uint64_t now = 0;
  for (auto _ : state) {
    ++now;
    wheel.advance(now);
    benchmark::DoNotOptimize(wheel.next_timeout_ms(now));
  }
}
BENCHMARK(BM_TimerAdvanceAndNextTimeout)->Arg(0)->Arg(10000);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
