#pragma once
// A shard: one thread, pinned to one core, owning its ring, listening sockets
// (SO_REUSEPORT, one per listen address), connections, upstream pools, configuration
// generations, access-log buffer and counters. Other threads talk to it only through
// the mailboxes (runtime/mailboxes.h): drain, reload, metrics collection.

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "config/config.h"

namespace ringway {

class Mailboxes;
class StoreThread;

struct ShardOptions {
  int index = 0;
  int cpu = -1;                // < 0: not pinned
  int access_log_fd = -1;      // < 0: no access log
  std::string ticket_master;   // the secret session-ticket keys derive from
  std::string version;         // for /hello and /metrics
  // The key store's thread (null when none runs): shards post lookups to it and read
  // its counters for /metrics.
  const StoreThread* store = nullptr;
};

class Shard {
 public:
  Shard(ShardOptions options, std::shared_ptr<const Config> config, Mailboxes* mailboxes);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Creates the shard's wake eventfd and registers it with the mailboxes. Called for
  // every shard before any starts.
  bool prepare(std::string* error);
  // Starts the thread and waits until it is serving (or failed: returns false).
  bool start(std::string* error);
  void join();
  // Valid after join().
  uint64_t requests_served() const { return requests_served_; }

 private:
  void run(std::promise<std::string>* started);

  ShardOptions options_;
  std::shared_ptr<const Config> config_;
  Mailboxes* mailboxes_;
  int event_fd_ = -1;  // mailbox wakes from the control thread (and MSG_RING fallback)
  std::thread thread_;
  uint64_t requests_served_ = 0;
};

}  // namespace ringway
