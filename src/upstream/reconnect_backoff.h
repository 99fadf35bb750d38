#pragma once
// Exponential backoff between connection attempts to one upstream (per shard and
// API). A dead upstream then costs one connect per backoff period instead of one per
// request; requests in between fail fast.

#include <cstdint>

namespace ringway {

class ReconnectBackoff {
 public:
  ReconnectBackoff(uint32_t base_ms, uint32_t max_ms) : base_ms_(base_ms), max_ms_(max_ms) {}

  // True when a new connection may be attempted at |now_ms|.
  bool may_connect(uint64_t now_ms) const { return now_ms >= retry_at_ms_; }
  void on_failure(uint64_t now_ms) {
    if (base_ms_ == 0) return;
    uint64_t delay = base_ms_;
    for (uint32_t i = 0; i < failures_ && delay < max_ms_; ++i) delay *= 2;
    if (delay > max_ms_) delay = max_ms_;
    if (failures_ < 64) ++failures_;
    retry_at_ms_ = now_ms + delay;
  }
  void on_success() {
    failures_ = 0;
    retry_at_ms_ = 0;
  }
  uint32_t failures() const { return failures_; }

 private:
  uint32_t base_ms_;
  uint32_t max_ms_;
  uint32_t failures_ = 0;
  uint64_t retry_at_ms_ = 0;
};

}  // namespace ringway
