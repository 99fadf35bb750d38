#pragma once
// The key store's own thread: shards post lookups, key API calls and quota counts to
// it through the mailboxes (its endpoint is Mailboxes::store()); it runs them against
// the KeyStore one at a time, hands password checks and hashes to the bcrypt pool,
// and posts the answers back. The shards never wait for it: a request that needs an
// answer waits in its filter.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "auth/auth_cache.h"
#include "config/config.h"
#include "runtime/bcrypt_pool.h"
#include "runtime/shard_message.h"
#include "store/key_store.h"

namespace ringway {

class Mailboxes;

// Read by the shards for /metrics.
struct StoreThreadStats {
  std::atomic<uint64_t> lookups{0};
  std::atomic<uint64_t> store_errors{0};
  std::atomic<uint64_t> password_checks{0};
  std::atomic<uint64_t> key_api_calls{0};
  std::atomic<uint64_t> quota_batches{0};
};

class StoreThread {
 public:
  StoreThread(const StoreConfig& config, Mailboxes* mailboxes);
  ~StoreThread();  // stops and joins
  StoreThread(const StoreThread&) = delete;
  StoreThread& operator=(const StoreThread&) = delete;

  // Opens the store (errors name the file) and registers the thread's eventfd; call
  // before the shards start.
  bool open(std::string* error);
  // Starts the thread and the bcrypt workers.
  bool start(std::string* error);
  void stop();

  const BcryptPool& bcrypt() const { return pool_; }
  const StoreThreadStats& stats() const { return stats_; }

 private:
  void run();
  void drain_mailbox();
  void handle(ShardMessage&& message);
  void on_lookup(uint32_t from, KeyLookup& lookup);
  // bcrypt's answers, so a password is checked once per cache_ttl_ms for the whole
  // process (not once per shard): by a digest of the user, the password and the
  // stored hash (a changed password misses).
  const bool* verified(const KeyDigest& digest, uint64_t now_ms);
  void remember(const KeyDigest& digest, bool ok, uint64_t now_ms);
  void on_key_api(uint32_t from, std::unique_ptr<KeyApiRequest> request);
  void run_key_calls();
  void finish_key_call(uint32_t from, const KeyApiRequest& request);
  void reply_key_call(uint32_t from, uint64_t id, int status, std::string_view message);
  void on_quota_usage(std::vector<QuotaUsage>& usage);
  void on_store_session(const std::string& key, SessionState& session);
  // Posts to a shard, or keeps the message until its mailbox has room.
  void send(uint32_t to, ShardMessageBody body);
  void flush_outbox();

  StoreConfig config_;
  Mailboxes* mailboxes_;
  std::unique_ptr<KeyStore> store_;
  BcryptPool pool_;
  int event_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::deque<ShardMessageBody>> outboxes_;  // per shard
  size_t queued_ = 0;  // messages in outboxes_
  // Key API calls in arrival order; one at a time while a password is hashed.
  std::deque<std::pair<uint32_t, std::unique_ptr<KeyApiRequest>>> key_calls_;
  bool key_call_hashing_ = false;
  struct Verified {
    bool ok = false;
    uint64_t expires_ms = 0;
  };
  std::unordered_map<KeyDigest, Verified, KeyDigestHash> verified_;
  KeyDigest verify_salt_{};
  StoreThreadStats stats_;
};

}  // namespace ringway
