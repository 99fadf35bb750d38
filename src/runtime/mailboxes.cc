#include "runtime/mailboxes.h"

#include <unistd.h>

#include "base/log.h"
#include "io/ring.h"

namespace ringway {
Mailboxes::Mailboxes(uint32_t shards, uint32_t capacity)
    : shards_(shards), endpoints_(shards + 2),
      receivers_(new Receiver[shards + 2]) {
  for (uint32_t i = 0; i < endpoints_; ++i) {
    receivers_[i].wake_failure.complete = on_wake_failure;
    receivers_[i].wake_failure.owner = &receivers_[i];
  }
  queues_.resize(static_cast<size_t>(endpoints_) * endpoints_);
  for (uint32_t from = 0; from < endpoints_; ++from) {
    for (uint32_t to = 0; to < endpoints_; ++to) {
      if (from != to) {
        queues_[from * endpoints_ + to] = std::make_unique<SpscQueue<ShardMessage>>(capacity);
      }
    }
  }
}

Mailboxes::~Mailboxes() = default;

void Mailboxes::set_event_fd(uint32_t endpoint, int event_fd) {
  receivers_[endpoint].event_fd = event_fd;
}

void Mailboxes::set_ring(uint32_t endpoint, int ring_fd, Op* ring_wake_op) {
  Receiver& r = receivers_[endpoint];
  r.ring_wake_op.store(ring_wake_op, std::memory_order_release);
  r.ring_fd.store(ring_fd, std::memory_order_release);
}

void Mailboxes::stop_ring_wakes(uint32_t endpoint) {
  receivers_[endpoint].ring_fd.store(-1, std::memory_order_release);
}

bool Mailboxes::post(uint32_t from, uint32_t to, ShardMessage&& message, Ring* sender_ring) {
  RW_CHECK(from < endpoints_ && to < endpoints_ && from != to);  // callers use valid ids
  message.from = from;
  // Stamped as the last step before the receiver can see the message: stamped
  // earlier, a sender descheduled between stamp and push (two cores, many threads)
  // would be counted as the receiver's delay.
  const std::atomic<uint64_t>& receiver_turn = receivers_[to].turn;
  if (!queue(from, to).push(std::move(message), [&](ShardMessage& stored) {
        stored.posted_turn = receiver_turn.load(std::memory_order_relaxed);
      })) {
    return false;
  }
  // seq_cst: ordered after the push, so a receiver that clears the flag and then
  // drains is sure to see this message.
  if (!receivers_[to].wake_pending.exchange(true, std::memory_order_seq_cst)) {
    wake(to, sender_ring);
  }
  return true;
}

void Mailboxes::wake(uint32_t to, Ring* sender_ring) {
  Receiver& r = receivers_[to];
  int ring_fd = r.ring_fd.load(std::memory_order_acquire);
  Op* wake_op = r.ring_wake_op.load(std::memory_order_acquire);
  if (sender_ring && ring_fd >= 0 && wake_op && sender_ring->msg_ring_supported()) {
    sender_ring->msg_ring(ring_fd, wake_op, &r.wake_failure);
    return;
  }
  write_event_fd(r.event_fd);
}

void Mailboxes::write_event_fd(int fd) {
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t rc = write(fd, &one, sizeof(one));
  (void)rc;  // EAGAIN only if the counter would overflow: a wake is pending anyway
}

void Mailboxes::on_wake_failure(Op* op, int32_t, uint32_t) {
  // The receiving ring refused the MSG_RING (closing, or its completion queue full):
  // its eventfd wakes it instead, so the message cannot sit unseen by an idle shard.
  write_event_fd(static_cast<Receiver*>(op->owner)->event_fd);
}

void Mailboxes::clear_wake(uint32_t endpoint) {
  // An RMW, so it reads the flag a sender's exchange wrote and sees its message.
  receivers_[endpoint].wake_pending.exchange(false, std::memory_order_seq_cst);
}

bool Mailboxes::has_mail(uint32_t endpoint) const {
  for (uint32_t from = 0; from < endpoints_; ++from) {
    if (from != endpoint && !queue(from, endpoint).empty()) return true;
  }
  return false;
}

}  // namespace ringway
