#include "runtime/shard_mailbox.h"

#include <cerrno>

#include "io/loop.h"

namespace ringway {

ShardMailbox::ShardMailbox(Mailboxes* mailboxes, uint32_t endpoint, Loop* loop, int event_fd,
                           Handler* handler)
    : mailboxes_(mailboxes),
      endpoint_(endpoint),
      loop_(loop),
      event_fd_(event_fd),
      handler_(handler),
      outboxes_(mailboxes->shard_count() + 2) {
  event_op_.complete = on_event;
  event_op_.owner = this;
  ring_wake_op_.complete = on_ring_wake;
  ring_wake_op_.owner = this;
}

void ShardMailbox::start() {
  // (The eventfd was registered before any thread started: messages posted until now
  // have made it readable, so the read armed below completes at once.)
  mailboxes_->set_ring(endpoint_, loop_->ring().fd(), &ring_wake_op_);
  mailboxes_->publish_turn(endpoint_, loop_->turn() + 1);
  loop_->set_turn_hook(on_turn_end, this);
  arm_event_read();
}

void ShardMailbox::on_turn_end(void* arg) {
  auto* box = static_cast<ShardMailbox*>(arg);
  if (box->mailboxes_->has_mail(box->endpoint_)) {
    // Cleared here too: a wake that was lost (or never sent) cannot leave the flag set
    // and every later sender believing a wake is on its way.
    box->mailboxes_->clear_wake(box->endpoint_);
    box->drain();
  }
  if (box->queued_ > 0) box->flush_outbox();
  // Messages posted from now on are stamped with the next turn: handled at its end
  // at the latest (or at the end of this one), that is, within one turn.
  box->mailboxes_->publish_turn(box->endpoint_, box->loop_->turn() + 1);
}

void ShardMailbox::arm_event_read() {
  loop_->ring().read(event_fd_, &event_value_, sizeof(event_value_), &event_op_);
}

void ShardMailbox::on_event(Op* op, int32_t res, uint32_t) {
  auto* box = static_cast<ShardMailbox*>(op->owner);
  box->mailboxes_->clear_wake(box->endpoint_);
  box->drain();
  if (res >= 0 || res == -EINTR || res == -EAGAIN) box->arm_event_read();
}

void ShardMailbox::on_ring_wake(Op* op, int32_t, uint32_t) {
  auto* box = static_cast<ShardMailbox*>(op->owner);
  box->mailboxes_->clear_wake(box->endpoint_);
  box->drain();
}

void ShardMailbox::drain() {
  uint64_t turn = loop_->turn();
  mailboxes_->drain(endpoint_, [&](ShardMessage&& m) {
    ++stats_.messages_received;
    uint64_t delay = turn > m.posted_turn ? turn - m.posted_turn : 0;
    if (delay > stats_.max_delay_turns) stats_.max_delay_turns = delay;
    handler_->handle(std::move(m));
  });
}

bool ShardMailbox::post(uint32_t to, ShardMessageBody body) {
  ShardMessage m;
  m.body = std::move(body);
  if (mailboxes_->post(endpoint_, to, std::move(m), &loop_->ring())) return true;
  ++stats_.posts_refused;
  return false;
}

bool ShardMailbox::post_or_queue(uint32_t to, ShardMessageBody body) {
  std::deque<ShardMessageBody>& queue = outboxes_[to];
  if (queue.empty()) {
    ShardMessage m;
    m.body = std::move(body);
    if (mailboxes_->post(endpoint_, to, std::move(m), &loop_->ring())) return true;
    ++stats_.posts_refused;
    body = std::move(m.body);  // a refused post leaves the message untouched
  }
  if (queue.size() >= kMaxOutbox) return false;
  queue.push_back(std::move(body));
  ++queued_;
  return true;
}

void ShardMailbox::flush_outbox() {
  for (uint32_t to = 0; to < outboxes_.size() && queued_ > 0; ++to) {
    std::deque<ShardMessageBody>& queue = outboxes_[to];
    while (!queue.empty()) {
      ShardMessage m;
      m.body = std::move(queue.front());
      if (!mailboxes_->post(endpoint_, to, std::move(m), &loop_->ring())) {
        queue.front() = std::move(m.body);
        break;
      }
      queue.pop_front();
      --queued_;
    }
  }
}

}  // namespace ringway
