#pragma once
// Fault injection, after Envoy's fault filter: holds a share of an API's requests
// ([api.NAME] fault_delay_percent) for fault_delay_ms before they go on, so operators
// can see how clients, deadlines and timeouts behave when an upstream is slow without
// making it slow. The wait is a filter stop like any other (a store lookup, a plugin
// call): the body is held and the client back-pressured meanwhile, and a client that
// goes away cancels it.

#include <cstdint>

#include "filter/filter.h"

namespace ringway {

class Loop;

class FaultDelayFilter final : public RequestFilter {
 public:
  // |loop|: the shard's (the delay is one of its timers). |seed| makes the choice of
  // delayed requests differ between shards.
  FaultDelayFilter(Loop* loop, uint32_t delay_ms, uint32_t percent, uint64_t seed);
  const char* name() const override { return "fault_delay"; }
  FilterStatus on_request(FilterCallbacks& request) override;

 private:
  bool pick();

  Loop* loop_;
  uint32_t delay_ms_;
  uint32_t percent_;
  uint64_t rng_;  // splitmix64 state: cheap and shard-local
};

}  // namespace ringway
