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
    if (head_ == items_.size()) clear();
    return s;
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

  template <class F>
  void for_each(F&& f) const {
    for (size_t i = head_; i < items_.size(); ++i) f(items_[i]);
  }

 private:
  std::vector<Slice> items_;  // [0, head_) are moved-from (empty) slices
  size_t head_ = 0;
};

}  // namespace ringway
