#include "io/loop.h"

#include <algorithm>

#include "base/clock.h"

namespace ringway {

Loop::Loop() : timers_(monotonic_ms()), now_ms_(monotonic_ms()), now_us_(monotonic_us()) {}

Loop::~Loop() = default;

bool Loop::init(const LoopLimits& limits, std::string* error) {
  if (!ring_.init(limits.ring_entries, error)) return false;
  if (!buffers_.init(&ring_, kRecvBufferGroup, limits.buffer_count, limits.buffer_size, error)) {
    return false;
  }
  buffers_.set_listener(this);
  return true;
}

void Loop::remove_starving(Deferred* d) {
  starving_.erase(std::remove(starving_.begin(), starving_.end(), d), starving_.end());
}

void Loop::on_buffers_available() {
  for (Deferred* d : starving_) queue_deferred(d);
  starving_.clear();
}

void Loop::run_end_of_turn() {
  // Flushing may queue more flushes (a relay writes to the other side) and deferred
  // work may produce output; loop until both lists are empty, bounded per turn.
  for (int round = 0; round < 16 && (!flush_list_.empty() || !deferred_list_.empty()); ++round) {
    flushing_.swap(flush_list_);
    for (Flushable* f : flushing_) {
      f->flush_queued_ = false;
      f->flush();
    }
    flushing_.clear();
    running_.swap(deferred_list_);
    for (Deferred* d : running_) {
      d->deferred_queued_ = false;
      d->run_deferred();
    }
    running_.clear();
    buffers_.publish();
  }
  buffers_.publish();
}

void Loop::run_once() {
  int64_t timeout = timers_.next_timeout_ms(now_ms_);
  if (!flush_list_.empty() || !deferred_list_.empty()) timeout = 0;
  ring_.submit_and_wait(timeout);
  // The clock is read right after the wait: handlers arm timers relative to it.
  now_us_ = monotonic_us();
  now_ms_ = now_us_ / 1000;
  ++turn_;
  ring_.dispatch();
  timers_.advance(now_ms_);
  if (turn_hook_) turn_hook_(turn_hook_arg_);
  // End-of-turn work last, so the caller's exit condition sees its effects (objects
  // freed by deferred work) before the next wait.
  run_end_of_turn();
}

}  // namespace ringway
