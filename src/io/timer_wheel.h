#pragma once
// Hashed timer wheel with 1 ms ticks. Timers are intrusive (caller-owned, no
// allocation to arm); a bitmap of non-empty slots finds the next expiry in 64 word
// scans, so the loop can sleep exactly until then with one ring timeout.
//
// A timer whose deadline is more than one rotation away sits in its slot and is
// skipped until its deadline comes round; that costs at most one early wake-up per
// rotation (4.096 s) per slot, which is cheap for idle and request timeouts.

#include <array>
#include <cstdint>

namespace ringway {

class TimerWheel;

struct Timer {
  using Callback = void (*)(Timer* timer);
  Callback callback = nullptr;
  void* owner = nullptr;  // free for the owner's use (usually a back-pointer)
  uint64_t deadline_ms = 0;
  Timer* prev = nullptr;
  Timer* next = nullptr;
  uint32_t slot = 0;  // index into the wheel, or kDueSlot
  bool armed = false;
};

class TimerWheel {
 public:
  static constexpr uint32_t kSlotCount = 4096;  // power of two

  explicit TimerWheel(uint64_t now_ms) : now_ms_(now_ms) {}
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms (or re-arms) |timer| to fire at |deadline_ms|; a deadline in the past fires on
  // the next advance().
  void arm(Timer* timer, uint64_t deadline_ms);
  void disarm(Timer* timer);

  // Fires every timer whose deadline is <= |now_ms|, in deadline order within a slot
  // sweep. Callbacks may arm and disarm any timer, including the one firing.
  // Returns the number of timers fired.
  uint32_t advance(uint64_t now_ms);

  // Milliseconds until the next possibly-due slot, 0 if something is due now,
  // -1 when no timer is armed.
  int64_t next_timeout_ms(uint64_t now_ms) const;

  uint32_t armed_count() const { return armed_count_; }
  uint64_t now_ms() const { return now_ms_; }

 private:
  void link(Timer* timer);
  void unlink(Timer* timer);
  static uint32_t slot_of(uint64_t ms) { return static_cast<uint32_t>(ms) & (kSlotCount - 1); }
  static constexpr uint32_t kDueSlot = kSlotCount;  // deadline already reached when armed

  uint64_t now_ms_;  // the tick swept last; slots after it are pending
  Timer* sweep_next_ = nullptr;  // during advance(): the next timer of the swept list
  uint32_t armed_count_ = 0;
  std::array<Timer*, kSlotCount + 1> slots_{};  // last entry: the due list
  std::array<uint64_t, kSlotCount / 64> occupied_{};
};

}  // namespace ringway
