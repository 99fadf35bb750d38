#pragma once
// Per-key rate limits (a session's rate requests per per seconds), enforced by each
// shard on its own with the budget divided across shards: a token bucket per key
// holding up to rate/shards tokens, refilled at rate/shards per |per| seconds. No
// shard talks to another per request. The approximation: the gateway as a whole never
// admits more than |rate| per |per| (plus each shard's bucket, full at the start),
// but a client whose connections all land on one shard gets only rate/shards —
// the error is at most rate*(shards-1)/shards, always on the side of refusing.
//
// Bounded: at most max_keys buckets; the least recently used goes first (it comes
// back full, which errs towards admitting; max_keys well above the keys active in
// one window keeps that rare). One per shard, its thread only.

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

#include "auth/auth_cache.h"
#include "store/key_hash.h"

namespace ringway {

struct RateDecision {
  bool allowed = true;
  // Tyk's X-RateLimit-* values for this shard's share.
  uint64_t limit = 0;      // requests per window on this shard
  uint64_t remaining = 0;  // whole tokens left after this request
  uint64_t reset_s = 0;    // seconds until a token is back (0 when one is left)
};

class RateLimiter {
 public:
  RateLimiter(size_t max_keys, uint32_t shards);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from |subject|'s bucket for a limit of |rate| per |per|
  // seconds (both > 0). A change of rate or per starts a fresh bucket.
  RateDecision check(const KeyDigest& subject, double rate, double per, uint64_t now_us);
  void forget(const KeyDigest& subject);
  size_t size() const { return map_.size(); }

 private:
  struct Bucket {
    KeyDigest subject;
    double rate = 0;
    double per = 0;
    double tokens = 0;
    uint64_t updated_us = 0;
  };
  using Lru = std::list<Bucket>;

  size_t max_keys_;
  uint32_t shards_;
  Lru lru_;  // most recent first
  std::unordered_map<KeyDigest, Lru::iterator, KeyDigestHash> map_;
};

}  // namespace ringway
