#pragma once
// A shard's way from a credential to a decision: its AuthCache first; on a miss, one
// lookup per distinct credential goes to the store (requests asking for the same one
// meanwhile join it), bounded in number (max_pending_lookups) and in time
// (lookup_timeout_ms). Answers land in the cache, positive and negative, unless the
// key was changed while the lookup was out (then it is asked again), so a revoke is
// never undone by an answer that was already on its way.

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "auth/auth_cache.h"
#include "auth/key_lookup.h"
#include "config/config.h"
#include "io/timer_wheel.h"

namespace ringway {

class Loop;

struct KeyResolverStats {
  uint64_t lookups = 0;        // sent to the store
  uint64_t lookups_joined = 0;  // requests that joined a lookup already out
  uint64_t lookups_failed = 0;  // unavailable, timed out, or could not be sent
  uint64_t lookups_repeated = 0;  // asked again after an invalidation
  uint64_t invalidations = 0;   // invalidate() calls
};

class KeyResolver {
 public:
  class Waiter {
   public:
    // |entry| is a copy: the cache may change during the call.
    virtual void on_resolved(const AuthEntry& entry) = 0;
    virtual void on_unavailable(const char* why) = 0;

   protected:
    ~Waiter() = default;
  };

  KeyResolver(Loop* loop, const StoreConfig& config, KeyLookupBackend* backend);
  ~KeyResolver();
  KeyResolver(const KeyResolver&) = delete;
  KeyResolver& operator=(const KeyResolver&) = delete;

  AuthCache& cache() { return cache_; }
  const AuthCache& cache() const { return cache_; }

  // Joins or starts the lookup of |credential|; |waiter| is called back later (never
  // from inside this call). False, with |*why| set, when the lookup cannot be made:
  // the caller answers 503 / 14 then.
  bool wait(const KeyDigest& credential, const KeyDigest& subject, bool basic,
            std::string_view password, Waiter* waiter, const char** why);
  // The waiter's request went away: it is not called back.
  void cancel(const KeyDigest& credential, Waiter* waiter);

  // From the store.
  void on_result(KeyLookupResult& result);
  // A key was written or removed through the key API: drop what is cached about it
  // and do not trust answers already on their way.
  void invalidate(const KeyDigest& subject);

  size_t pending() const { return pending_.size(); }
  const KeyResolverStats& stats() const { return stats_; }

 private:
  struct Pending {
    KeyResolver* resolver = nullptr;
    uint64_t id = 0;
    KeyDigest credential{};
    KeyDigest subject{};
    bool basic = false;
    std::string password;
    bool stale = false;  // invalidated while out: ask again
    uint8_t repeats = 0;
    std::vector<Waiter*> waiters;
    Timer timer;
  };

  bool send(Pending& p);
  static void on_timeout(Timer* t);
  // Removes |p| and tells its waiters.
  void fail(Pending* p, const char* why);
  void erase(Pending* p);
  // Calls |notify| for each of |waiters| (taken from an erased lookup); a waiter
  // cancelled by an earlier one's callback is skipped.
  template <class Notify>
  void notify_all(std::vector<Waiter*> waiters, Notify&& notify);

  Loop* loop_;
  KeyLookupBackend* backend_;
  uint32_t max_pending_;
  uint64_t lookup_timeout_ms_;
  AuthCache cache_;
  uint64_t next_id_ = 1;
  std::unordered_map<KeyDigest, std::unique_ptr<Pending>, KeyDigestHash> pending_;
  std::unordered_map<uint64_t, Pending*> by_id_;
  std::vector<Waiter*>* notifying_ = nullptr;  // waiters being called back
  KeyResolverStats stats_;
};

}  // namespace ringway
