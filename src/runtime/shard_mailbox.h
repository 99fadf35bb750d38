#pragma once
// One shard's end of the mailboxes: it arms the shard's eventfd read (wakes from the
// control thread), owns the Op a MSG_RING wake from another shard completes, drains
// the shard's queues when woken and at the end of every loop turn, and sends with
// the shard's ring. Replies that find a full mailbox wait in a bounded outbox and go
// out at the end of the next turns.

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "io/ring.h"
#include "runtime/mailboxes.h"

namespace ringway {

class Loop;

class ShardMailbox {
 public:
  class Handler {
   public:
    virtual void handle(ShardMessage&& message) = 0;

   protected:
    ~Handler() = default;
  };

  // Messages kept per destination while its mailbox is full (beyond: dropped; the
  // asker's own timeout covers a reply). One queue per destination, so one slow
  // receiver holds up only what goes to it.
  static constexpr size_t kMaxOutbox = 1024;

  ShardMailbox(Mailboxes* mailboxes, uint32_t endpoint, Loop* loop, int event_fd,
               Handler* handler);
  ShardMailbox(const ShardMailbox&) = delete;
  ShardMailbox& operator=(const ShardMailbox&) = delete;

  // Registers with the mailboxes, arms the eventfd read and installs the loop's
  // end-of-turn hook. Call once, on the shard's thread, before messages are posted.
  void start();

  const MailboxStats& stats() const { return stats_; }

  // Posts to |to|; false when its mailbox is full (counted in posts_refused).
  bool post(uint32_t to, ShardMessageBody body);
  // Posts, or keeps the message for the next turns when the mailbox is full; false
  // when it had to be dropped (that destination's outbox is full too).
  bool post_or_queue(uint32_t to, ShardMessageBody body);

 private:
  static void on_turn_end(void* arg);
  static void on_event(Op* op, int32_t res, uint32_t flags);
  static void on_ring_wake(Op* op, int32_t res, uint32_t flags);
  void arm_event_read();
  void drain();
  void flush_outbox();

  Mailboxes* mailboxes_;
  uint32_t endpoint_;
  Loop* loop_;
  int event_fd_;
  Handler* handler_;
  Op event_op_;
  uint64_t event_value_ = 0;
  Op ring_wake_op_;
  std::vector<std::deque<ShardMessageBody>> outboxes_;  // per destination endpoint
  size_t queued_ = 0;  // messages in outboxes_
  MailboxStats stats_;
};

}  // namespace ringway
