#pragma once
// A FIFO of slices that allocates nothing until the first push (libstdc++'s
// std::deque allocates a map and a 512-byte node as soon as it is constructed, which
// an object made per request or per stream — most of which never queue a slice —
// pays for nothing). A vector with a moving head: pop_front() advances it, and the
// storage is reused once the queue empties.

#include <cstddef>
#include <utility>
#include <vector>

#include "mem/slice.h"

namespace ringway {

class SliceQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  Slice& front() { return items_[head_]; }
  Slice& back() { return items_.back(); }

  void push_back(Slice s) { items_.push_back(std::move(s)); }
  void push_front(Slice s) {
    if (head_ > 0) {
      items_[--head_] = std::move(s);
    } else {
      items_.insert(items_.begin(), std::move(s));
    }
  }
  Slice pop_front() {
    Slice s = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= kCompactAt && 2 * head_ >= items_.size()) {
      // A queue that never empties (a long stream whose reader is the bottleneck)
      // drops its used prefix now and then instead of growing for ever.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return s;
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

  size_t capacity_for_test() const { return items_.capacity(); }

  template <class F>
  void for_each(F&& f) const {
    for (size_t i = head_; i < items_.size(); ++i) f(items_[i]);
  }

 private:
  static constexpr size_t kCompactAt = 32;
  std::vector<Slice> items_;  // [0, head_) are moved-from (empty) slices
  size_t head_ = 0;
};

}  // namespace ringway
