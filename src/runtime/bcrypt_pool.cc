#include "runtime/bcrypt_pool.h"

#include <cerrno>
#include <cstring>
#include <string>

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

namespace ringway {
namespace {

// bcrypt is CPU-bound by design (tens of milliseconds per check at cost 10). Its
// workers run at a lower priority than the shards, so on a host with as many shards
// as cores a burst of checks slows the checks, not the requests in flight.
constexpr int kWorkerNice = 10;

}  // namespace

BcryptPool::BcryptPool(uint32_t workers, uint32_t queue_limit)
    : workers_(workers), queue_limit_(queue_limit) {}

BcryptPool::~BcryptPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
  if (event_fd_ >= 0) close(event_fd_);
}

bool BcryptPool::start(std::string* error) {
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) {
    *error = std::string("eventfd: ") + strerror(errno);
    return false;
  }
  for (uint32_t i = 0; i < workers_; ++i) {
    threads_.emplace_back([this, i] {
      std::string name = "ringway-bc" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      // Per thread on Linux (the nice value of a thread id).
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kWorkerNice);
      worker();
    });
  }
  return true;
}

bool BcryptPool::submit(Job job) {
  if (depth_.load(std::memory_order_relaxed) >= queue_limit_) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  depth_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void BcryptPool::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.work();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      completed_.push_back(std::move(job.done));
    }
    uint64_t one = 1;
    ssize_t rc = write(event_fd_, &one, sizeof(one));
    (void)rc;  // only fails if the counter would overflow: a wake is pending anyway
  }
}

void BcryptPool::run_completions() {
  uint64_t value = 0;
  ssize_t rc = read(event_fd_, &value, sizeof(value));
  (void)rc;
  std::vector<std::function<void()>> done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done.swap(completed_);
  }
  for (auto& f : done) {
    depth_.fetch_sub(1, std::memory_order_relaxed);
    f();
  }
}

}  // namespace ringway
