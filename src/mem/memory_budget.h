#pragma once
// A shard's account of the bytes its connections hold in buffers they own: output
// queued for a socket, input stashed while reading is paused, and HTTP/2 response
// bytes waiting for the client's flow-control window. Owned by the shard,
// single-threaded like everything else in it. New requests are refused while it is
// over [gateway] max_memory_bytes; requests already going on keep going (their bytes
// are bounded by flow control and the send-queue limit).

#include <cstddef>
#include <cstdint>

namespace ringway {

struct MemoryBudget {
  uint64_t used = 0;
  uint64_t peak = 0;

  void charge(size_t bytes) {
    used += bytes;
    if (used > peak) peak = used;
  }
  void release(size_t bytes) { used -= bytes; }
  bool over(uint64_t limit) const { return used > limit; }
};

}  // namespace ringway
