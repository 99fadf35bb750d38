#pragma once
// Provided-buffer ring for multishot recv. Each buffer carries a reference count:
// the kernel hands a buffer to one recv completion, Ringway may then hold slices of it
// (a DATA payload queued on another socket) and the buffer goes back to the kernel
// when the last reference is dropped. When the kernel runs out of buffers a
// multishot recv ends with -ENOBUFS; the owning connection waits in the starving list
// and is re-armed when buffers come back — data is never dropped.

#include <cstdint>
#include <string>
#include <vector>

#include "io/ring.h"

namespace ringway {

class BufferRing {
 public:
  // Hook called when buffers were returned while connections were starving.
  class Listener {
   public:
    virtual void on_buffers_available() = 0;

   protected:
    ~Listener() = default;
  };

  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  // |count| must be a power of two (the kernel ring mask), at most 32768.
  bool init(Ring* ring, uint16_t group, uint32_t count, uint32_t size, std::string* error);

  uint16_t group() const { return group_; }
  uint32_t buffer_size() const { return size_; }
  uint32_t count() const { return count_; }
  // Buffers currently owned by the kernel (available for receives).
  uint32_t available() const { return available_; }
  // True when fewer than a quarter of the buffers are free: holders of long-lived
  // slices should copy instead of pinning more buffers.
  bool scarce() const { return available_ < count_ / 4; }

  char* data(uint16_t bid) { return base_ + static_cast<size_t>(bid) * size_; }
  bool contains(const char* p) const {
    return p >= base_ && p < base_ + data_bytes_;
  }
  uint16_t bid_of(const char* p) const {
    return static_cast<uint16_t>(static_cast<size_t>(p - base_) / size_);
  }

  // Called with the buffer id from a recv CQE: the completion holds one reference.
  void take(uint16_t bid) { refs_[bid] = 1; --available_; }
  void ref(uint16_t bid) { ++refs_[bid]; }
  void unref(uint16_t bid);

  void set_listener(Listener* listener) { listener_ = listener; }
  void set_starving() { starving_ = true; }

  // Pushes returned buffers to the kernel; called once per loop turn.
  void publish();

 private:
  Ring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  char* base_ = nullptr;
  size_t ring_bytes_ = 0;
  size_t data_bytes_ = 0;
  uint16_t group_ = 0;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  uint32_t available_ = 0;
  uint32_t pending_returns_ = 0;  // added to the ring but not yet advanced
  std::vector<uint32_t> refs_;
  Listener* listener_ = nullptr;
  bool starving_ = false;
};

}  // namespace ringway
