#pragma once
// Shard mailboxes: a bounded single-producer / single-consumer queue for every
// ordered pair of endpoints — the shards and the control thread — carrying
// ShardMessages. Created before the shards start and shared by all of them; each
// queue has exactly one writing and one reading thread.
//
// Delivery: a receiving shard drains its queues at the end of every loop turn, so a
// message is handled within one turn of the receiver even under load; an idle shard
// sleeping in the ring is woken by an IORING_OP_MSG_RING completion from the
// sending shard's ring (sent with that ring's next submission, no syscall of its
// own) or, from the control thread, by a write to the receiver's eventfd. One wake
// is in flight per receiver at most (wake_pending), however many messages follow.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/shard_message.h"
#include "runtime/spsc_queue.h"

namespace ringway {

class Ring;
struct Op;

class Mailboxes {
 public:
  // |shards| shard endpoints (0..shards-1), the control thread (index shards) and the
  // key store thread (index shards + 1).
  Mailboxes(uint32_t shards, uint32_t capacity);
  ~Mailboxes();
  Mailboxes(const Mailboxes&) = delete;
  Mailboxes& operator=(const Mailboxes&) = delete;

  uint32_t shard_count() const { return shards_; }
  uint32_t control() const { return shards_; }
  uint32_t store() const { return shards_ + 1; }

  // Receiver registration. The eventfd each endpoint's loop (or the control thread)
  // reads is set for every endpoint before any thread starts (so no post can find a
  // receiver it cannot wake); a shard adds its ring once it runs.
  void set_event_fd(uint32_t endpoint, int event_fd);
  // The shard's ring fd and the Op a MSG_RING wake completes on it.
  void set_ring(uint32_t endpoint, int ring_fd, Op* ring_wake_op);
  // A shard about to close its ring: later wakes go through its eventfd (which stays
  // open until the Shard object goes).
  void stop_ring_wakes(uint32_t endpoint);

  // Posts |message| from |from| to |to| (on |from|'s thread). |sender_ring|: the
  // sending shard's ring (null from the control thread). Returns false when |to|'s
  // queue from |from| is full: the message is not sent and the caller decides.
  bool post(uint32_t from, uint32_t to, ShardMessage&& message, Ring* sender_ring);

  // Receiver side (on |endpoint|'s thread). Call when woken, before draining: a
  // message posted after this wakes it again.
  void clear_wake(uint32_t endpoint);
  // Pops every waiting message for |endpoint| in per-sender FIFO order, calling
  // handle(ShardMessage&&); returns how many.
  template <class Handle>
  size_t drain(uint32_t endpoint, Handle&& handle) {
    size_t n = 0;
    ShardMessage message;
    for (uint32_t from = 0; from < endpoints_; ++from) {
      if (from == endpoint) continue;
      SpscQueue<ShardMessage>& q = queue(from, endpoint);
      while (q.pop(message)) {
        ++n;
        handle(std::move(message));
      }
    }
    return n;
  }
  // True when something waits for |endpoint| (a cheap check done every turn).
  bool has_mail(uint32_t endpoint) const;
  // The receiver's loop turn, published once per turn, stamped on messages.
  void publish_turn(uint32_t endpoint, uint64_t turn) {
    receivers_[endpoint].turn.store(turn, std::memory_order_relaxed);
  }

 private:
  struct alignas(64) Receiver {
    std::atomic<bool> wake_pending{false};
    std::atomic<uint64_t> turn{0};
    int event_fd = -1;  // written before the threads start, read-only after
    // A MSG_RING that failed (on the sender's ring): falls back to event_fd.
    Op wake_failure;
    // Read by senders on other threads; cleared when the receiver's ring closes.
    std::atomic<int> ring_fd{-1};
    std::atomic<Op*> ring_wake_op{nullptr};
  };
  SpscQueue<ShardMessage>& queue(uint32_t from, uint32_t to) const {
    return *queues_[from * endpoints_ + to];
  }
  void wake(uint32_t to, Ring* sender_ring);
  static void write_event_fd(int fd);
  static void on_wake_failure(Op* op, int32_t res, uint32_t flags);

  uint32_t shards_;
  uint32_t endpoints_;
  std::vector<std::unique_ptr<SpscQueue<ShardMessage>>> queues_;  // [from][to]
  std::unique_ptr<Receiver[]> receivers_;
};

}  // namespace ringway
