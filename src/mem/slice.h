#pragma once
// Slice: an owning reference to a run of bytes, either inside a provided receive
// buffer (reference-counted through the shard's BufferRing: this is what makes the
// relay zero-copy) or inside a heap block (reference-counted, for bytes Ringway
// generates: serialized heads, chunk framing, HTTP/2 control frames).
// Move-only; dropping the last reference returns the receive buffer to the kernel.
// Slices never cross shards.

#include <cstdint>
#include <cstring>
#include <utility>

namespace ringway {

class BufferRing;

// The receive buffers of the shard running on this thread (set once per shard).
BufferRing* thread_buffer_ring();
void set_thread_buffer_ring(BufferRing* ring);

struct HeapBlock;
// The heap block a connection is delivering received bytes from (TLS plaintext),
// set around the handler call: Slice::from_recv then shares it instead of copying.
HeapBlock* thread_delivery_block();
void set_thread_delivery_block(HeapBlock* block);

struct HeapBlock {
  HeapBlock* next_free;  // link in the per-thread cache while unused
  uint32_t refs;
  uint32_t capacity;
  uint32_t used;
  uint32_t reserved;     // keeps bytes[] 8-byte aligned
  char bytes[];          // capacity bytes follow
};

// Heap blocks of the default size are recycled through a per-thread free list.
HeapBlock* heap_block_new(uint32_t min_capacity);
void heap_block_unref(HeapBlock* block);
// The free list keeps at most |bytes| of blocks ([gateway] block_cache_bytes), so it
// holds what a burst needed up to that bound; lowering it frees the excess now.
void set_thread_block_cache_limit(uint64_t bytes);
// Bytes of blocks the free list holds now.
uint64_t thread_block_cache_bytes();

class Slice {
 public:
  Slice() = default;
  ~Slice() { reset(); }
  Slice(Slice&& other) noexcept { steal(other); }
  Slice& operator=(Slice&& other) noexcept {
    if (this != &other) {
      reset();
      steal(other);
    }
    return *this;
  }
  Slice(const Slice&) = delete;
  Slice& operator=(const Slice&) = delete;

  // A reference to bytes inside the current thread's receive buffers (or inside the
  // delivery block, see above); bytes from anywhere else are copied.
  static Slice from_recv(const char* data, uint32_t len);
  // A fresh heap copy of |data|.
  static Slice copy_of(const char* data, uint32_t len);
  // Bytes [offset, offset+len) of |block|; takes a new reference.
  static Slice from_block(HeapBlock* block, uint32_t offset, uint32_t len);

  const char* data() const { return data_; }
  uint32_t size() const { return len_; }
  bool empty() const { return len_ == 0; }
  bool in_recv_buffer() const { return kind_ == Kind::Recv; }
  // In a receive buffer while fewer than a quarter of them are free: a slice that
  // may be held for long should then be copied (detach()) rather than pin it.
  bool pins_scarce_buffer() const;
  HeapBlock* block() const { return kind_ == Kind::Heap ? block_ : nullptr; }

  // Another reference to the same bytes.
  Slice share() const;
  // The first |n| bytes as a new reference; this slice keeps all of its bytes.
  Slice prefix(uint32_t n) const;
  // Drops the first |n| bytes.
  void advance(uint32_t n) {
    data_ += n;
    len_ -= n;
  }
  // When |next| starts right where this heap slice ends, in the same block (runs of
  // TLS plaintext arrive that way), takes its bytes and empties it: one reference
  // instead of two. Returns false (nothing changed) otherwise.
  bool absorb(Slice& next);
  // When this heap slice is the sole owner of its block and ends at the block's
  // tail, copies |data| after it (into the block's free room) and grows over it.
  // Returns false (nothing changed) when that is not possible.
  bool append_copy(const char* data, uint32_t len);
  // Copies receive-buffer bytes to the heap so the buffer can go back to the kernel
  // (used when a slice would be held for long while buffers are scarce).
  void detach();
  void reset();

 private:
  enum class Kind : uint8_t { None, Recv, Heap };
  void steal(Slice& other) {
    data_ = other.data_;
    len_ = other.len_;
    kind_ = other.kind_;
    block_ = other.block_;
    bid_ = other.bid_;
    other.kind_ = Kind::None;
    other.data_ = nullptr;
    other.len_ = 0;
    other.block_ = nullptr;
  }

  const char* data_ = nullptr;
  uint32_t len_ = 0;
  Kind kind_ = Kind::None;
  uint16_t bid_ = 0;  // receive buffer id when kind_ == Recv
  HeapBlock* block_ = nullptr;
};

}  // namespace ringway
