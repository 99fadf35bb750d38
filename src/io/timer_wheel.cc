#include "io/timer_wheel.h"

#include "base/log.h"

namespace ringway {

void TimerWheel::link(Timer* timer) {
  // A deadline at or before the swept tick can no longer be found by a sweep, so it
  // waits on the due list that the next advance() fires first.
  uint32_t slot = timer->deadline_ms <= now_ms_ ? kDueSlot : slot_of(timer->deadline_ms);
  timer->slot = slot;
  timer->prev = nullptr;
  timer->next = slots_[slot];
  if (timer->next) timer->next->prev = timer;
  slots_[slot] = timer;
  if (slot != kDueSlot) occupied_[slot / 64] |= uint64_t{1} << (slot % 64);
  timer->armed = true;
  ++armed_count_;
}

void TimerWheel::unlink(Timer* timer) {
  uint32_t slot = timer->slot;
  if (timer == sweep_next_) {
    // The next timer of the list being swept (detached from its slot): a callback
    // disarms or re-arms it. The sweep goes on with the one after it.
    sweep_next_ = timer->next;
  } else if (timer->prev) {
    timer->prev->next = timer->next;
  } else {
    slots_[slot] = timer->next;
    if (!slots_[slot] && slot != kDueSlot) occupied_[slot / 64] &= ~(uint64_t{1} << (slot % 64));
  }
  if (timer->next) timer->next->prev = timer->prev;
  timer->prev = timer->next = nullptr;
  timer->armed = false;
  --armed_count_;
}

void TimerWheel::arm(Timer* timer, uint64_t deadline_ms) {
  RW_CHECK(timer->callback != nullptr);  // guaranteed by every owner's constructor
  if (timer->armed) unlink(timer);
  timer->deadline_ms = deadline_ms;
  link(timer);
}

void TimerWheel::disarm(Timer* timer) {
  if (timer->armed) unlink(timer);
}

uint32_t TimerWheel::advance(uint64_t now_ms) {
  if (now_ms < now_ms_) now_ms = now_ms_;  // the clock is monotonic; be safe anyway
  uint64_t start = now_ms_ + 1;
  uint64_t ticks = now_ms - now_ms_;
  if (ticks > kSlotCount) ticks = kSlotCount;  // one rotation visits every slot
  now_ms_ = now_ms;  // timers armed by callbacks are placed relative to the new time

  uint32_t fired = 0;
  auto sweep = [&](uint32_t slot) {
    // Detach the list first: callbacks may arm timers (even into this slot). The
    // cursor is a member so that a callback disarming the next timer of the detached
    // list moves it on (see unlink) instead of leaving it on a timer that may be gone.
    sweep_next_ = slots_[slot];
    slots_[slot] = nullptr;
    if (slot != kDueSlot) occupied_[slot / 64] &= ~(uint64_t{1} << (slot % 64));
    while (sweep_next_) {
      Timer* timer = sweep_next_;
      sweep_next_ = timer->next;
      if (sweep_next_) sweep_next_->prev = nullptr;
      timer->prev = timer->next = nullptr;
      timer->armed = false;
      --armed_count_;
      if (timer->deadline_ms <= now_ms) {
        ++fired;
        timer->callback(timer);
      } else {
        link(timer);  // a later rotation: back into the same slot
      }
    }
  };
  sweep(kDueSlot);
  for (uint64_t t = 0; t < ticks; ++t) {
    uint32_t slot = slot_of(start + t);
    if (occupied_[slot / 64] & (uint64_t{1} << (slot % 64))) sweep(slot);
  }
  return fired;
}

int64_t TimerWheel::next_timeout_ms(uint64_t now_ms) const {
  if (armed_count_ == 0) return -1;
  if (slots_[kDueSlot]) return 0;
  uint64_t base = now_ms_ + 1;
  uint32_t start = slot_of(base);
  for (uint32_t n = 0; n < kSlotCount;) {
    uint32_t slot = (start + n) & (kSlotCount - 1);
    uint64_t bits = occupied_[slot / 64] >> (slot % 64);
    if (bits) {
      uint64_t due = base + n + static_cast<uint32_t>(__builtin_ctzll(bits));
      return due > now_ms ? static_cast<int64_t>(due - now_ms) : 0;
    }
    n += 64 - (slot % 64);
  }
  return -1;  // unreachable while armed_count_ > 0
}

}  // namespace ringway
