#pragma once
// Quotas (a key's quota_max requests per quota_renewal_rate seconds), counted on each
// shard and persisted by the store thread in batches: the shard counts what it
// admitted since its last report and sends the counts every quota_flush_ms; the
// store subtracts them from quota_remaining in one transaction and tells every shard
// the new remaining. A shard admits while (last remaining it heard of) - (its own
// counts not yet reflected in that) > 0. The approximation: other shards' use within
// one flush interval (and one mailbox hop) is not seen, so a quota can be exceeded by
// at most what the other shards admit in that window; it is never under-admitted.
//
// Bounded by max_keys: at a flush, keys with nothing to report are forgotten first
// when over the bound (they are learned again from the next cached session).

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/auth_cache.h"
#include "store/key_store.h"
#include "store/session.h"

namespace ringway {

class QuotaTracker {
 public:
  explicit QuotaTracker(size_t max_keys) : max_keys_(max_keys) {}

  // Counts one request for |subject| (whose session has a quota); false when the
  // quota is used up (nothing counted).
  bool take(const KeyDigest& subject, const SessionState& session, int64_t now_unix);
  // The counts to send to the store (cleared; remembered as in flight).
  std::vector<QuotaUsage> take_report();
  // The store's word on a key after a batch (from any shard).
  void on_store_state(const QuotaState& state);
  // The key was written or removed: its figures come again from its next session
  // (counts not yet reported are still reported).
  void forget(const KeyDigest& subject);
  size_t size() const { return keys_.size(); }

 private:
  struct Count {
    int64_t remaining = 0;  // as last heard (the session's, or the store's)
    int64_t renews = 0;     // unix seconds
    int64_t unreported = 0;
    int64_t in_flight = 0;  // reported, not yet reflected in |remaining|
    bool relearn = false;   // take remaining/renews from the next session seen
  };

  size_t max_keys_;
  std::unordered_map<KeyDigest, Count, KeyDigestHash> keys_;
};

}  // namespace ringway
