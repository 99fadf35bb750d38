#pragma once
// One shard's event loop: the ring, its receive buffers, its timer wheel, and the
// end-of-turn work lists. A turn is: one io_uring_submit_and_wait (sending what the
// previous turn queued) → dispatch completions → fire due timers → let every
// connection with pending output produce it and queue one send → run deferred work
// (frees, re-arms) → return buffers to the kernel.

#include <cstdint>
#include <string>
#include <vector>

#include "io/buffer_ring.h"
#include "io/ring.h"
#include "io/timer_wheel.h"
#include "io/timers.h"

namespace ringway {

// Something that has output to push at the end of the turn.
class Flushable {
 public:
  virtual void flush() = 0;
  bool flush_queued_ = false;

 protected:
  ~Flushable() = default;
};

// Something to run at the end of the turn, after flushes (deferred destruction, or a
// starving connection re-arming its receive).
class Deferred {
 public:
  virtual void run_deferred() = 0;
  bool deferred_queued_ = false;

 protected:
  ~Deferred() = default;
};

struct LoopLimits {
  uint32_t ring_entries = 4096;
  uint32_t buffer_count = 4096;
  uint32_t buffer_size = 16384;
};

class Loop final : public Timers, private BufferRing::Listener {
 public:
  static constexpr uint16_t kRecvBufferGroup = 1;

  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Must run on the loop's own thread.
  bool init(const LoopLimits& limits, std::string* error);

  Ring& ring() { return ring_; }
  BufferRing& buffers() { return buffers_; }
  TimerWheel& timers() { return timers_; }
  // The clock, read once per turn right after the wait: every event of a turn is
  // stamped with the time it was woken for (no clock read per request).
  uint64_t now_ms() const override { return now_ms_; }
  uint64_t now_us() const { return now_us_; }
  // Turns run so far (mailbox delivery is measured in turns).
  uint64_t turn() const { return turn_; }
  // Called at the end of every turn, before the end-of-turn work (the shard drains
  // its mailboxes here, so a message is handled within one turn even under load).
  void set_turn_hook(void (*hook)(void* arg), void* arg) {
    turn_hook_ = hook;
    turn_hook_arg_ = arg;
  }

  void queue_flush(Flushable* f) {
    if (!f->flush_queued_) {
      f->flush_queued_ = true;
      flush_list_.push_back(f);
    }
  }
  void queue_deferred(Deferred* d) {
    if (!d->deferred_queued_) {
      d->deferred_queued_ = true;
      deferred_list_.push_back(d);
    }
  }
  // A connection whose multishot recv ended with -ENOBUFS; re-armed (as Deferred)
  // once buffers come back.
  void add_starving(Deferred* d) { starving_.push_back(d); buffers_.set_starving(); }
  // Forgets a starving entry (its owner is going away).
  void remove_starving(Deferred* d);

  // Arms a timer |delay_ms| from now.
  void arm_timer(Timer* t, uint64_t delay_ms) override { timers_.arm(t, now_ms_ + delay_ms); }
  void disarm_timer(Timer* t) override { timers_.disarm(t); }

  // One turn: see the file comment.
  void run_once();

 private:
  void on_buffers_available() override;
  void run_end_of_turn();

  Ring ring_;
  BufferRing buffers_;
  TimerWheel timers_;
  uint64_t now_ms_;
  uint64_t now_us_;
  uint64_t turn_ = 0;
  void (*turn_hook_)(void* arg) = nullptr;
  void* turn_hook_arg_ = nullptr;
  std::vector<Flushable*> flush_list_;
  std::vector<Flushable*> flushing_;
  std::vector<Deferred*> deferred_list_;
  std::vector<Deferred*> running_;
  std::vector<Deferred*> starving_;
};

}  // namespace ringway
