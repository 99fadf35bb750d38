#pragma once
// The shard's io_uring: the only code that includes liburing.h. Every submission
// carries a pointer to a caller-owned Op (never an index that could be reused while
// its CQE is outstanding); completion calls op->complete.

#include <cstdint>
#include <string>

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace ringway {

struct Op {
  // |res| is the CQE result (bytes or -errno), |flags| the CQE flags.
  using Complete = void (*)(Op* op, int32_t res, uint32_t flags);
  Complete complete = nullptr;
  void* owner = nullptr;
};

class Ring {
 public:
  Ring() = default;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Must be called on the thread that will use the ring (SINGLE_ISSUER). Probes the
  // opcodes Ringway needs and fails with a message that names what is missing.
  bool init(uint32_t entries, std::string* error);

  // Multishot accept on a listening socket.
  void accept_multishot(int fd, Op* op);
  // One-shot poll for readability (POLLIN); the completion carries the revents.
  void poll_in(int fd, Op* op);
  // Multishot recv selecting buffers from provided-buffer group |group|.
  void recv_multishot(int fd, uint16_t group, Op* op);
  void sendmsg(int fd, const msghdr* msg, Op* op);
  void connect(int fd, const sockaddr* addr, socklen_t len, Op* op);
  void read(int fd, void* buf, uint32_t len, Op* op);
  void write(int fd, const void* buf, uint32_t len, uint64_t offset, Op* op);
  // Cancels the operation submitted with |target|; the cancel's own completion is
  // ignored.
  void cancel(Op* target);
  void close(int fd, Op* op);
  // Posts a completion carrying |target| (an Op of the receiving ring's owner) on the
  // ring |target_ring_fd| (IORING_OP_MSG_RING): wakes another shard without a
  // syscall of its own, in this ring's next submission. No completion is posted here
  // on success; a failure completes |on_failure|.
  void msg_ring(int target_ring_fd, Op* target, Op* on_failure);
  bool msg_ring_supported() const { return msg_ring_supported_; }

  // Submits everything queued and waits for at least one completion or
  // |timeout_ms| (-1 = no timeout).
  void submit_and_wait(int64_t timeout_ms);
  // Dispatches every available CQE; returns how many were handled.
  uint32_t dispatch();

  io_uring* raw() { return &ring_; }
  int fd() const { return ring_.ring_fd; }

 private:
  io_uring_sqe* next_sqe();

  io_uring ring_{};
  bool initialised_ = false;
  bool msg_ring_supported_ = false;
};

}  // namespace ringway
