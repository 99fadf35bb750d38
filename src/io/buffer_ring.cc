#include "io/buffer_ring.h"

#include <cstring>

#include <sys/mman.h>

#include "base/log.h"

namespace ringway {

BufferRing::~BufferRing() {
  if (br_) {
    io_uring_unregister_buf_ring(ring_->raw(), group_);
    munmap(br_, ring_bytes_);
  }
  if (base_) munmap(base_, data_bytes_);
}

bool BufferRing::init(Ring* ring, uint16_t group, uint32_t count, uint32_t size,
                      std::string* error) {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
    *error = "buffer_count must be a power of two between 1 and 32768";
    return false;
  }
  ring_ = ring;
  group_ = group;
  count_ = count;
  size_ = size;
  ring_bytes_ = sizeof(io_uring_buf) * count;
  void* mem = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                   -1, 0);
  if (mem == MAP_FAILED) {
    *error = std::string("mmap of the buffer ring failed: ") + strerror(errno);
    return false;
  }
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int rc = io_uring_register_buf_ring(ring->raw(), &reg, 0);
  if (rc < 0) {
    munmap(br_, ring_bytes_);
    br_ = nullptr;
    *error = std::string("io_uring_register_buf_ring failed: ") + strerror(-rc);
    return false;
  }
  data_bytes_ = static_cast<size_t>(count) * size;
  // Populated up front: the kernel cycles through every buffer of the ring, so they
  // would all become resident under traffic anyway; committing them now keeps RSS
  // flat instead of creeping up to this size during the first large transfer.
  mem = mmap(nullptr, data_bytes_, PROT_READ | PROT_WRITE,
             MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) {
    *error = std::string("mmap of receive buffers failed: ") + strerror(errno);
    return false;
  }
  base_ = static_cast<char*>(mem);
  refs_.assign(count, 0);
  io_uring_buf_ring_init(br_);
  int mask = io_uring_buf_ring_mask(count);
  for (uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(br_, data(static_cast<uint16_t>(i)), size, static_cast<uint16_t>(i),
                          mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(count));
  available_ = count;
  return true;
}

void BufferRing::unref(uint16_t bid) {
  RW_CHECK(refs_[bid] > 0);  // every unref pairs with take() or ref()
  if (--refs_[bid] != 0) return;
  io_uring_buf_ring_add(br_, data(bid), size_, bid, io_uring_buf_ring_mask(count_),
                        static_cast<int>(pending_returns_));
  ++pending_returns_;
  ++available_;
}

void BufferRing::publish() {
  if (pending_returns_ == 0) return;
  io_uring_buf_ring_advance(br_, static_cast<int>(pending_returns_));
  pending_returns_ = 0;
  if (starving_ && listener_) {
    starving_ = false;
    listener_->on_buffers_available();
  }
}

}  // namespace ringway
