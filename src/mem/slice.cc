#include "mem/slice.h"

#include <cstdlib>
#include <new>

#include "base/log.h"
#include "io/buffer_ring.h"

namespace ringway {
namespace {
thread_local BufferRing* t_buffer_ring = nullptr;
thread_local HeapBlock* t_delivery_block = nullptr;

// Per-thread free list of default-size heap blocks: the common sizes (a response
// head, chunk framing) never reach malloc after warm-up.
constexpr uint32_t kDefaultBlockCapacity = 16384 - sizeof(HeapBlock);
constexpr uint64_t kBlockBytes = sizeof(HeapBlock) + kDefaultBlockCapacity;
struct BlockCache {
  HeapBlock* head = nullptr;
  uint32_t count = 0;
  uint32_t limit = 1024;  // blocks; [gateway] block_cache_bytes's default is 16 MiB
  ~BlockCache() {
    while (head) {
      HeapBlock* next = head->next_free;
      free(head);
      head = next;
    }
  }
};
thread_local BlockCache t_block_cache;
}  // namespace

BufferRing* thread_buffer_ring() { return t_buffer_ring; }
void set_thread_buffer_ring(BufferRing* ring) { t_buffer_ring = ring; }
HeapBlock* thread_delivery_block() { return t_delivery_block; }
void set_thread_delivery_block(HeapBlock* block) { t_delivery_block = block; }

HeapBlock* heap_block_new(uint32_t min_capacity) {
  HeapBlock* block;
  if (min_capacity <= kDefaultBlockCapacity && t_block_cache.head) {
    block = t_block_cache.head;
    t_block_cache.head = block->next_free;
    --t_block_cache.count;
  } else {
    uint32_t capacity = min_capacity <= kDefaultBlockCapacity ? kDefaultBlockCapacity : min_capacity;
    block = static_cast<HeapBlock*>(malloc(sizeof(HeapBlock) + capacity));
    if (!block) {
      RW_LOG(Error, "out of memory allocating %u bytes", capacity);
      abort();  // allocation failure is fatal by design; limits keep memory bounded
    }
    block->capacity = capacity;
  }
  block->refs = 1;
  block->used = 0;
  return block;
}

void heap_block_unref(HeapBlock* block) {
  if (--block->refs != 0) return;
  if (block->capacity == kDefaultBlockCapacity && t_block_cache.count < t_block_cache.limit) {
    block->next_free = t_block_cache.head;
    t_block_cache.head = block;
    ++t_block_cache.count;
    return;
  }
  free(block);
}

void set_thread_block_cache_limit(uint64_t bytes) {
  uint64_t blocks = bytes / kBlockBytes;
  t_block_cache.limit = static_cast<uint32_t>(blocks > UINT32_MAX ? UINT32_MAX : blocks);
  while (t_block_cache.count > t_block_cache.limit) {
    HeapBlock* block = t_block_cache.head;
    t_block_cache.head = block->next_free;
    --t_block_cache.count;
    free(block);
  }
}

uint64_t thread_block_cache_bytes() { return t_block_cache.count * kBlockBytes; }

Slice Slice::from_recv(const char* data, uint32_t len) {
  Slice s;
  if (len == 0) return s;  // an empty run may sit on a buffer boundary: own nothing
  if (!t_buffer_ring || !t_buffer_ring->contains(data)) {
    HeapBlock* b = t_delivery_block;
    if (b && data >= b->bytes && data + len <= b->bytes + b->used) {
      return from_block(b, static_cast<uint32_t>(data - b->bytes), len);
    }
    // Bytes a codec was fed from elsewhere (a connection's sniff buffer) are copied.
    return copy_of(data, len);
  }
  s.data_ = data;
  s.len_ = len;
  s.kind_ = Kind::Recv;
  s.bid_ = t_buffer_ring->bid_of(data);
  t_buffer_ring->ref(s.bid_);
  return s;
}

Slice Slice::copy_of(const char* data, uint32_t len) {
  HeapBlock* block = heap_block_new(len);
  memcpy(block->bytes, data, len);
  block->used = len;
  Slice s;
  s.data_ = block->bytes;
  s.len_ = len;
  s.kind_ = Kind::Heap;
  s.block_ = block;
  return s;
}

Slice Slice::from_block(HeapBlock* block, uint32_t offset, uint32_t len) {
  ++block->refs;
  Slice s;
  s.data_ = block->bytes + offset;
  s.len_ = len;
  s.kind_ = Kind::Heap;
  s.block_ = block;
  return s;
}

Slice Slice::share() const {
  Slice s;
  s.data_ = data_;
  s.len_ = len_;
  s.kind_ = kind_;
  s.block_ = block_;
  s.bid_ = bid_;
  if (kind_ == Kind::Recv) {
    t_buffer_ring->ref(bid_);
  } else if (kind_ == Kind::Heap) {
    ++block_->refs;
  }
  return s;
}

Slice Slice::prefix(uint32_t n) const {
  Slice s = share();
  s.len_ = n;
  return s;
}

bool Slice::absorb(Slice& next) {
  if (kind_ != Kind::Heap || next.block() != block_ || data_ + len_ != next.data_) return false;
  len_ += next.len_;
  next.reset();
  return true;
}

bool Slice::append_copy(const char* data, uint32_t len) {
  if (kind_ != Kind::Heap || block_->refs != 1 || data_ + len_ != block_->bytes + block_->used ||
      block_->capacity - block_->used < len) {
    return false;
  }
  memcpy(block_->bytes + block_->used, data, len);
  block_->used += len;
  len_ += len;
  return true;
}

bool Slice::pins_scarce_buffer() const {
  return kind_ == Kind::Recv && t_buffer_ring && t_buffer_ring->scarce();
}

void Slice::detach() {
  if (kind_ != Kind::Recv) return;
  Slice copy = copy_of(data_, len_);
  *this = std::move(copy);
}

void Slice::reset() {
  if (kind_ == Kind::Recv) {
    t_buffer_ring->unref(bid_);
  } else if (kind_ == Kind::Heap) {
    heap_block_unref(block_);
  }
  kind_ = Kind::None;
  data_ = nullptr;
  len_ = 0;
  block_ = nullptr;
}

}  // namespace ringway
