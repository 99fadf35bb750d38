#include "io/ring.h"

#include <cerrno>
#include <cstring>

#include <poll.h>

#include "base/log.h"

namespace ringway {
namespace {
// Completions of cancel requests carry this op: nothing to do on them.
void ignore_completion(Op*, int32_t, uint32_t) {}
Op g_ignore_op{ignore_completion, nullptr};
}  // namespace

Ring::~Ring() {
  if (initialised_) io_uring_queue_exit(&ring_);
}

bool Ring::init(uint32_t entries, std::string* error) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 4;  // multishot ops post many CQEs per SQE
  int rc = io_uring_queue_init_params(entries, &ring_, &params);
  if (rc < 0) {
    *error = std::string("io_uring_queue_init_params failed: ") + strerror(-rc) +
             " (needs Linux >= 6.1 with io_uring enabled; check "
             "/proc/sys/kernel/io_uring_disabled and seccomp)";
    return false;
  }
  initialised_ = true;
  if (!(params.features & IORING_FEAT_EXT_ARG)) {
    *error = "io_uring lacks IORING_FEAT_EXT_ARG (kernel too old)";
    return false;
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (!probe) {
    *error = "io_uring opcode probe failed";
    return false;
  }
  const struct {
    int op;
    const char* name;
  } needed[] = {{IORING_OP_ACCEPT, "ACCEPT"}, {IORING_OP_RECV, "RECV"},
                {IORING_OP_SENDMSG, "SENDMSG"}, {IORING_OP_CONNECT, "CONNECT"},
                {IORING_OP_READ, "READ"},     {IORING_OP_WRITE, "WRITE"},
                {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}, {IORING_OP_CLOSE, "CLOSE"},
                {IORING_OP_PROVIDE_BUFFERS, "PROVIDE_BUFFERS"},
                {IORING_OP_POLL_ADD, "POLL_ADD"}};
  for (const auto& n : needed) {
    if (!io_uring_opcode_supported(probe, n.op)) {
      *error = std::string("io_uring opcode not supported: ") + n.name;
      io_uring_free_probe(probe);
      return false;
    }
  }
  // Optional: without it, shards wake each other through their eventfds.
  msg_ring_supported_ = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
  io_uring_free_probe(probe);
  return true;
}

io_uring_sqe* Ring::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {
    // SQ full: push what we have (no wait) and retry.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Ring::accept_multishot(int fd, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, op);
}

void Ring::poll_in(int fd, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_poll_add(sqe, fd, POLLIN);
  io_uring_sqe_set_data(sqe, op);
}

void Ring::recv_multishot(int fd, uint16_t group, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = group;
  io_uring_sqe_set_data(sqe, op);
}

void Ring::sendmsg(int fd, const msghdr* msg, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
  io_uring_sqe_set_data(sqe, op);
}

void Ring::connect(int fd, const sockaddr* addr, socklen_t len, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_connect(sqe, fd, addr, len);
  io_uring_sqe_set_data(sqe, op);
}

void Ring::read(int fd, void* buf, uint32_t len, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_read(sqe, fd, buf, len, 0);
  io_uring_sqe_set_data(sqe, op);
}

void Ring::write(int fd, const void* buf, uint32_t len, uint64_t offset, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_write(sqe, fd, buf, len, offset);
  io_uring_sqe_set_data(sqe, op);
}

void Ring::cancel(Op* target) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel(sqe, target, 0);
  io_uring_sqe_set_data(sqe, &g_ignore_op);
}

void Ring::close(int fd, Op* op) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_close(sqe, fd);
  io_uring_sqe_set_data(sqe, op ? op : &g_ignore_op);
}

void Ring::msg_ring(int target_ring_fd, Op* target, Op* on_failure) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_msg_ring(sqe, target_ring_fd, 0, reinterpret_cast<uint64_t>(target), 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data(sqe, on_failure);
}

void Ring::submit_and_wait(int64_t timeout_ms) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  if (timeout_ms < 0) {
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
  } else {
    __kernel_timespec ts;
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (timeout_ms % 1000) * 1000000;
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    RW_LOG(Error, "io_uring_submit_and_wait_timeout: %s", strerror(-rc));
  }
}

uint32_t Ring::dispatch() {
  io_uring_cqe* cqe = nullptr;
  uint32_t handled = 0;
  unsigned head;
  // Dispatch in batches; completions may queue new SQEs, which go out next turn.
  io_uring_for_each_cqe(&ring_, head, cqe) {
    Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    int32_t res = cqe->res;
    uint32_t flags = cqe->flags;
    ++handled;
    // Mark seen before the callback: the callback may free the op's owner but never
    // touches the CQ.
    io_uring_cq_advance(&ring_, 1);
    if (op) op->complete(op, res, flags);
  }
  return handled;
}

}  // namespace ringway
