#pragma once
// Worker threads for the slow work of the key store: bcrypt password checks and
// hashes (milliseconds each, by design). The store thread submits jobs; each runs on
// a worker, then its completion runs back on the store thread (run_completions(),
// when the pool's eventfd is readable). Bounded: at most |queue_limit| jobs waiting
// or running; submit() refuses beyond, and the caller answers "unavailable" (a flood
// of wrong passwords cannot queue work without bound).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ringway {

class BcryptPool {
 public:
  struct Job {
    std::function<void()> work;  // on a worker
    std::function<void()> done;  // then on the store thread
  };

  BcryptPool(uint32_t workers, uint32_t queue_limit);
  ~BcryptPool();  // stops and joins the workers; unfinished jobs are dropped
  BcryptPool(const BcryptPool&) = delete;
  BcryptPool& operator=(const BcryptPool&) = delete;

  bool start(std::string* error);
  // False when |queue_limit| jobs are already waiting or running.
  bool submit(Job job);
  // Readable when completions wait (poll it on the store thread).
  int event_fd() const { return event_fd_; }
  // Runs the completions of finished jobs (store thread).
  void run_completions();
  // Jobs waiting or running (read by shards for /metrics).
  uint32_t depth() const { return depth_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  void worker();

  uint32_t workers_;
  uint32_t queue_limit_;
  int event_fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::vector<std::function<void()>> completed_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::atomic<uint32_t> depth_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace ringway
