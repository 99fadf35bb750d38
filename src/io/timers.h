#pragma once
// Timeouts as code above the loop sees them: a clock and a way to arm and disarm
// timers against it. The shard's Loop implements it (the ring-driven clock and its
// timer wheel); tests and fuzz targets drive codecs with a clock they advance.

#include <cstdint>

#include "io/timer_wheel.h"

namespace ringway {

class Timers {
 public:
  // Milliseconds, read once per loop turn.
  virtual uint64_t now_ms() const = 0;
  // Arms |timer| |delay_ms| from now (re-arming moves it).
  virtual void arm_timer(Timer* timer, uint64_t delay_ms) = 0;
  virtual void disarm_timer(Timer* timer) = 0;

 protected:
  ~Timers() = default;
};

}  // namespace ringway
