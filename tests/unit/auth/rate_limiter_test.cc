#include "auth/rate_limiter.h"

#include <cstdint>
#include <utility>

#include <gtest/gtest.h>

namespace ringway {
namespace {

KeyDigest digest(uint32_t n) {
  KeyDigest d{};
  for (int i = 0; i < 4; ++i) d[i] = static_cast<uint8_t>(n >> (8 * i));
  return d;
}

constexpr uint64_t kMs = 1000;          // microseconds
constexpr uint64_t kS = 1000 * kMs;
constexpr uint64_t kT0 = 1000 * kS;     // an arbitrary loop time

// Takes |n| requests at |now|; returns how many were admitted.
int admit(RateLimiter& rl, const KeyDigest& key, double rate, double per, uint64_t now, int n) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += rl.check(key, rate, per, now).allowed ? 1 : 0;
  return allowed;
}

TEST(RateLimiter, BurstUpToCapacityThenRefused) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  for (uint64_t i = 0; i < 10; ++i) {
    RateDecision d = rl.check(key, 10, 1, kT0);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 10u);
    EXPECT_EQ(d.remaining, 9 - i);
  }
  RateDecision d = rl.check(key, 10, 1, kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 10u);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_s, 1u);
  EXPECT_EQ(rl.size(), 1u);
}

TEST(RateLimiter, RefillsContinuously) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0, 20), 10);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 50 * kMs, 1), 0);  // half a token
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 100 * kMs, 5), 1);  // one token per 100 ms
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 350 * kMs, 5), 2);  // 2.5 more
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 400 * kMs, 5), 1);  // the half plus another half
  // A long pause refills to capacity, never beyond.
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 60 * kS, 100), 10);
}

TEST(RateLimiter, NewBucketStartsFull) {
  RateLimiter rl(16, 1);
  EXPECT_EQ(admit(rl, digest(1), 3, 60, kT0, 10), 3);
  EXPECT_EQ(admit(rl, digest(2), 3, 60, kT0, 10), 3);  // keys are independent
  EXPECT_EQ(rl.size(), 2u);
}

TEST(RateLimiter, BudgetIsDividedAcrossShards) {
  RateLimiter rl(16, 2);
  const KeyDigest key = digest(1);
  // 10 per second over two shards: this shard holds 5 and refills 5 per second.
  RateDecision first = rl.check(key, 10, 1, kT0);
  EXPECT_EQ(first.limit, 5u);
  EXPECT_EQ(first.remaining, 4u);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0, 10), 4);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 100 * kMs, 5), 0);  // half a token
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 200 * kMs, 5), 1);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 5 * kS, 10), 5);

  RateLimiter four(16, 4);  // 100 per minute on four shards: 25 each
  EXPECT_EQ(admit(four, key, 100, 60, kT0, 100), 25);
}

TEST(RateLimiter, FractionalShareHoldsOneTokenAndRefillsAtTheRealShare) {
  RateLimiter rl(16, 4);
  const KeyDigest key = digest(1);
  // 1 per second over four shards: a share of 0.25 per second. The bucket still
  // holds one token (else it could never admit anything) ...
  RateDecision d = rl.check(key, 1, 1, kT0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit, 1u);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_s, 4u);
  d = rl.check(key, 1, 1, kT0 + 1 * kS);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_s, 3u);
  d = rl.check(key, 1, 1, kT0 + 3900 * kMs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_s, 1u);  // 0.1 s rounds up
  // ... but refills one token per 4 s.
  EXPECT_TRUE(rl.check(key, 1, 1, kT0 + 4 * kS).allowed);

  // Long run: hammering every 10 ms for 100 s admits the first request and then one
  // per 4 s, the real share (rate/shards), not one per second.
  RateLimiter fresh(16, 4);
  int allowed = 0;
  for (uint64_t t = 0; t < 100 * kS; t += 10 * kMs) {
    allowed += fresh.check(key, 1, 1, kT0 + t).allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 25);  // 1 at t=0, then 4, 8, ..., 96 s
}

TEST(RateLimiter, ResetSeconds) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  // 10 per minute: one token back every 6 s.
  for (int i = 0; i < 8; ++i) rl.check(key, 10, 60, kT0);
  RateDecision d = rl.check(key, 10, 60, kT0);  // 9th
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 1u);
  EXPECT_EQ(d.reset_s, 0u);  // a token is left: nothing to wait for
  d = rl.check(key, 10, 60, kT0);  // 10th: the last one
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_s, 6u);
  d = rl.check(key, 10, 60, kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_s, 6u);
  d = rl.check(key, 10, 60, kT0 + 1 * kS);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_s, 5u);
  d = rl.check(key, 10, 60, kT0 + 5500 * kMs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reset_s, 1u);
  d = rl.check(key, 10, 60, kT0 + 6 * kS);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_s, 6u);
}

TEST(RateLimiter, HeaderValuesForAFractionalCapacity) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  // 2.5 per second: limit is the whole part, remaining counts whole tokens only.
  RateDecision d = rl.check(key, 2.5, 1, kT0);
  EXPECT_EQ(d.limit, 2u);
  EXPECT_EQ(d.remaining, 1u);
  EXPECT_EQ(d.reset_s, 0u);
  d = rl.check(key, 2.5, 1, kT0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);  // half a token left
  EXPECT_EQ(d.reset_s, 1u);    // 0.5 token at 2.5/s = 0.2 s, rounded up
  d = rl.check(key, 2.5, 1, kT0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit, 2u);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_s, 1u);
  // 1 per 10 s with a large remaining window.
  RateLimiter slow(16, 1);
  d = slow.check(key, 1, 10, kT0);
  EXPECT_EQ(d.limit, 1u);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.reset_s, 10u);
}

TEST(RateLimiter, ChangedRateOrPerStartsAFreshBucket) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  EXPECT_EQ(admit(rl, key, 2, 1, kT0, 5), 2);
  // The key was updated to 3 per second: full bucket of the new size at once.
  RateDecision d = rl.check(key, 3, 1, kT0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit, 3u);
  EXPECT_EQ(d.remaining, 2u);
  EXPECT_EQ(admit(rl, key, 3, 1, kT0, 5), 2);
  // Same rate, new per: fresh again.
  EXPECT_EQ(admit(rl, key, 3, 2, kT0, 5), 3);
  // Unchanged: no refill at the same instant.
  EXPECT_EQ(admit(rl, key, 3, 2, kT0, 5), 0);
  EXPECT_EQ(rl.size(), 1u);
}

TEST(RateLimiter, LeastRecentlyUsedBucketGoesAtMaxKeys) {
  RateLimiter rl(3, 1);
  // Each key drained: one per 1000 s, one request taken.
  for (uint32_t k = 1; k <= 3; ++k) EXPECT_TRUE(rl.check(digest(k), 1, 1000, kT0).allowed);
  EXPECT_EQ(rl.size(), 3u);
  EXPECT_FALSE(rl.check(digest(1), 1, 1000, kT0).allowed);  // 1 most recent: 1, 3, 2
  EXPECT_TRUE(rl.check(digest(4), 1, 1000, kT0).allowed);   // 2 goes: 4, 1, 3
  EXPECT_EQ(rl.size(), 3u);
  // 1 and 4 kept their state; 2 comes back full (evicting 3, now the least recent).
  EXPECT_FALSE(rl.check(digest(1), 1, 1000, kT0).allowed);
  EXPECT_FALSE(rl.check(digest(4), 1, 1000, kT0).allowed);
  EXPECT_TRUE(rl.check(digest(2), 1, 1000, kT0).allowed);  // 2, 4, 1
  EXPECT_EQ(rl.size(), 3u);
  EXPECT_TRUE(rl.check(digest(3), 1, 1000, kT0).allowed);  // 1 goes: 3, 2, 4
  EXPECT_FALSE(rl.check(digest(4), 1, 1000, kT0).allowed);
  EXPECT_FALSE(rl.check(digest(2), 1, 1000, kT0).allowed);
  EXPECT_EQ(rl.size(), 3u);
}

TEST(RateLimiter, ForgetDropsTheBucket) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  EXPECT_EQ(admit(rl, key, 2, 60, kT0, 5), 2);
  rl.check(digest(2), 2, 60, kT0);
  EXPECT_EQ(rl.size(), 2u);
  rl.forget(key);
  EXPECT_EQ(rl.size(), 1u);
  EXPECT_EQ(admit(rl, key, 2, 60, kT0, 5), 2);  // back full
  rl.forget(digest(99));  // unknown: nothing happens
  EXPECT_EQ(rl.size(), 2u);
  rl.forget(key);
  rl.forget(digest(2));
  EXPECT_EQ(rl.size(), 0u);
}

TEST(RateLimiter, NoLimitForNonPositiveValues) {
  RateLimiter rl(16, 1);
  const std::pair<double, double> cases[] = {{0, 1}, {10, 0}, {-1, 1}, {1, -1}};
  for (auto [rate, per] : cases) {
    RateDecision d = rl.check(digest(1), rate, per, kT0);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 0u);
  }
  EXPECT_EQ(rl.size(), 0u);
}

TEST(RateLimiter, ClockGoingBackwardsAddsNothing) {
  RateLimiter rl(16, 1);
  const KeyDigest key = digest(1);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0, 10), 10);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 - 5 * kS, 5), 0);
  EXPECT_EQ(admit(rl, key, 10, 1, kT0 + 100 * kMs, 5), 1);
}

TEST(RateLimiter, ZeroShardsAndKeysAreClampedToOne) {
  RateLimiter rl(0, 0);
  EXPECT_EQ(admit(rl, digest(1), 4, 1, kT0, 10), 4);
  EXPECT_EQ(admit(rl, digest(2), 4, 1, kT0, 10), 4);
  EXPECT_EQ(rl.size(), 1u);
}

}  // namespace
}  // namespace ringway
