#include "auth/rate_limiter.h"

#include <cmath>
#include <iterator>

namespace ringway {
namespace {

// Tokens are doubles refilled by elapsed * rate / per, so a bucket that should hold
// exactly one token may hold 0.9999999999999999. Counting within this much of a whole
// token as that token keeps the admitted counts exact for the rates people write.
constexpr double kTokenSlack = 1e-9;
// Likewise for reset_s: the clock has microsecond steps, so 6.000000000000001 s is 6.
constexpr double kSecondSlack = 1e-6;
// Bounds for the integer header values (an absurd rate must not overflow a cast).
constexpr double kMaxCount = 1e15;

uint64_t whole(double x) {
  double f = std::floor(x + kTokenSlack);
  if (f <= 0) return 0;
  return static_cast<uint64_t>(f < kMaxCount ? f : kMaxCount);
}

}  // namespace

RateLimiter::RateLimiter(size_t max_keys, uint32_t shards)
    : max_keys_(max_keys > 0 ? max_keys : 1), shards_(shards > 0 ? shards : 1) {}

RateDecision RateLimiter::check(const KeyDigest& subject, double rate, double per,
                                uint64_t now_us) {
  // The caller checks has_rate_limit(); anything else (0, negative, NaN) is no limit
  // rather than a division by zero.
  if (!(rate > 0) || !(per > 0)) return RateDecision{};

  // This shard's share of the budget. A share below one request (rate 1 per second on
  // four shards) still needs a bucket that can hold one whole token or it would refuse
  // for ever, so the capacity is rounded up to 1 while the refill stays at the real
  // share (0.25 per second): the long-run rate is still rate/shards per |per|, only
  // the first request (or one after a long quiet spell) comes early.
  const double share = rate / static_cast<double>(shards_);
  const double capacity = share < 1 ? 1.0 : share;
  const double refill_per_s = share / per;

  Bucket* bucket;
  auto it = map_.find(subject);
  if (it != map_.end()) {
    bucket = &*it->second;
    lru_.splice(lru_.begin(), lru_, it->second);
    if (bucket->rate != rate || bucket->per != per) {
      // A new limit (the key was updated): start over with a full bucket of the new size
      // rather than carry a level measured against the old one.
      bucket->rate = rate;
      bucket->per = per;
      bucket->tokens = capacity;
      bucket->updated_us = now_us;
    } else if (now_us > bucket->updated_us) {
      double elapsed_s = static_cast<double>(now_us - bucket->updated_us) * 1e-6;
      bucket->tokens = std::fmin(capacity, bucket->tokens + elapsed_s * refill_per_s);
      bucket->updated_us = now_us;
    }
    // A clock that went backwards leaves the bucket as it was.
  } else {
    if (map_.size() >= max_keys_) {
      // Full: reuse the least recently used bucket's list and map nodes (no allocation
      // for a key churning through).
      auto victim = std::prev(lru_.end());
      auto handle = map_.extract(victim->subject);
      lru_.splice(lru_.begin(), lru_, victim);
      handle.key() = subject;
      map_.insert(std::move(handle));
    } else {
      lru_.emplace_front();
      map_.emplace(subject, lru_.begin());
    }
    bucket = &lru_.front();
    *bucket = Bucket{subject, rate, per, capacity, now_us};
  }

  RateDecision decision;
  decision.limit = whole(capacity);
  if (bucket->tokens + kTokenSlack >= 1) {
    bucket->tokens = std::fmax(0.0, bucket->tokens - 1);
    decision.allowed = true;
  } else {
    decision.allowed = false;
  }
  decision.remaining = whole(bucket->tokens);
  if (decision.remaining == 0) {
    // Seconds until the bucket is back to one whole token; at least 1 since none is
    // left now.
    double seconds = (1 - bucket->tokens) / refill_per_s;
    double up = std::ceil(seconds - kSecondSlack);
    if (!(up >= 1)) up = 1;
    decision.reset_s = static_cast<uint64_t>(up < kMaxCount ? up : kMaxCount);
  }
  return decision;
}

void RateLimiter::forget(const KeyDigest& subject) {
  auto it = map_.find(subject);
  if (it == map_.end()) return;
  lru_.erase(it->second);
  map_.erase(it);
}

}  // namespace ringway
