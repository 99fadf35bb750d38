#pragma once
// Out of descriptors (EMFILE, or ENFILE system-wide), accept() fails and leaves the
// connection in the listen backlog: its client waits for an answer that never comes
// while more pile up behind it. A descriptor held in reserve frees a slot on demand,
// so the shard can take those connections and close them at once: their clients see
// a close and can try again later (or elsewhere) instead of hanging.

#include <cstdint>

namespace ringway {

class DescriptorReserve {
 public:
  DescriptorReserve() = default;
  ~DescriptorReserve();

  // Opens the reserve (/dev/null) if it is not held; false when that fails.
  bool open();
  bool held() const { return fd_ >= 0; }

  struct ShedResult {
    uint32_t shed = 0;          // connections accepted and closed
    bool backlog_empty = false;  // accept said EAGAIN: nobody else is waiting
    int error = 0;              // the errno that stopped it otherwise (0: |max| reached)
  };
  // Gives up the reserve, accepts and closes up to |max| connections waiting on the
  // non-blocking |listen_fd|, then takes the reserve back (which may fail when another
  // thread took the slot meanwhile: open() is tried again next time).
  ShedResult shed(int listen_fd, uint32_t max);

 private:
  DescriptorReserve(const DescriptorReserve&) = delete;
  DescriptorReserve& operator=(const DescriptorReserve&) = delete;

  int fd_ = -1;
};

}  // namespace ringway
