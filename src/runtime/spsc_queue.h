#pragma once
// A bounded single-producer / single-consumer queue (Seastar's smp_message_queue is
// the model): one thread pushes, one other thread pops, no locks. Capacity is a power
// of two; push() refuses (returns false) when the queue is full, so the sender
// decides what a full queue means.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

namespace ringway {

template <class T>
class SpscQueue {
 public:
  // |capacity|: a power of two, at least 2.
  explicit SpscQueue(uint32_t capacity) : slots_(capacity), mask_(capacity - 1) {}
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  uint32_t capacity() const { return mask_ + 1; }

  // Producer side.
  bool push(T&& value) {
    return push(std::move(value), [](T&) {});
  }
  // Calls |just_before_publish| on the stored value as the last step before the
  // consumer can see it (a sender stamps the time of publication, not of the call).
  template <class Finish>
  bool push(T&& value, Finish&& just_before_publish) {
    uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ > mask_) return false;  // full
    }
    T& slot = slots_[tail & mask_];
    slot = std::move(value);
    just_before_publish(slot);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer side.
  bool pop(T& out) {
    uint32_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;  // empty
    }
    out = std::move(slots_[head & mask_]);
    slots_[head & mask_] = T();  // release what the slot held (payloads) now
    head_.store(head + 1, std::memory_order_release);
    return true;
  }
  // Consumer side: a cheap check without taking anything.
  bool empty() const {
    return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_acquire);
  }

 private:
  static constexpr size_t kLine = 64;
  std::vector<T> slots_;
  const uint32_t mask_;
  alignas(kLine) std::atomic<uint32_t> head_{0};  // next slot to pop (consumer writes)
  uint32_t tail_cache_ = 0;                       // consumer's copy of tail_
  alignas(kLine) std::atomic<uint32_t> tail_{0};  // next slot to push (producer writes)
  uint32_t head_cache_ = 0;                       // producer's copy of head_
};

}  // namespace ringway
