#pragma once
// A shard: one thread, pinned to one core, owning its ring, listening sockets
// (SO_REUSEPORT, one per listen address), connections, upstream pools, access-log
// buffer and counters. Other threads talk to it only through post(): a command word
// and an eventfd read by the shard's own ring.

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "config/config.h"
#include "proxy/proxy_context.h"

namespace ringway {

class Shard {
 public:
  enum Command : uint32_t {
    kDrain = 1u << 0,  // stop accepting, finish in-flight requests, then exit
  };

  // |cpu| < 0: not pinned. |access_log_fd| < 0: no access log. |ticket_master|: the
  // process-wide secret session-ticket keys derive from (tls/ticket_key_schedule.h).
  Shard(int index, std::shared_ptr<const Config> config, int cpu, int access_log_fd,
        std::string ticket_master);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Starts the thread and waits until it is serving (or failed: returns false).
  bool start(std::string* error);
  // Thread-safe: may be called from any thread.
  void post(uint32_t commands);
  void join();
  // Valid after join().
  const ProxyCounters& counters() const { return counters_; }

 private:
  void run(std::promise<std::string>* started);

  int index_;
  std::shared_ptr<const Config> config_;
  int cpu_;
  int access_log_fd_;
  std::string ticket_master_;
  int control_fd_ = -1;  // eventfd
  std::atomic<uint32_t> commands_{0};
  std::thread thread_;
  ProxyCounters counters_;
};

}  // namespace ringway
