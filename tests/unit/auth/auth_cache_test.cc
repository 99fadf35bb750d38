#include "auth/auth_cache.h"

#include <cstdint>
#include <memory>

#include <gtest/gtest.h>

namespace ringway {
namespace {

// A digest made by hand from a small number (key_digest() lives elsewhere); the low
// bytes differ, so KeyDigestHash spreads them like real digests.
KeyDigest digest(uint32_t n) {
  KeyDigest d{};
  for (int i = 0; i < 4; ++i) d[i] = static_cast<uint8_t>(n >> (8 * i));
  d[31] = 0xA5;
  return d;
}

AuthEntry positive(uint32_t subject, std::shared_ptr<const SessionState> session = nullptr) {
  AuthEntry e;
  e.session = session ? std::move(session) : std::make_shared<SessionState>();
  e.denial = AuthDenial::kNone;
  e.subject = digest(subject);
  return e;
}

AuthEntry negative(uint32_t subject, AuthDenial why = AuthDenial::kUnknownKey) {
  AuthEntry e;
  e.denial = why;
  e.subject = digest(subject);
  return e;
}

TEST(AuthCache, MissThenHit) {
  AuthCache cache(16, 1000);
  EXPECT_EQ(cache.find(digest(1), 0), nullptr);
  auto session = std::make_shared<SessionState>();
  cache.insert(digest(1), positive(100, session), 10);
  EXPECT_EQ(cache.size(), 1u);
  const AuthEntry* e = cache.find(digest(1), 20);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->session, session);
  EXPECT_EQ(e->denial, AuthDenial::kNone);
  EXPECT_EQ(e->subject, digest(100));
  EXPECT_EQ(e->expires_ms, 1010u);
  EXPECT_EQ(cache.find(digest(2), 20), nullptr);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 2u);
}

TEST(AuthCache, NegativeEntriesAreCachedToo) {
  AuthCache cache(16, 1000);
  cache.insert(digest(1), negative(1, AuthDenial::kWrongPassword), 0);
  cache.insert(digest(2), negative(2), 0);
  const AuthEntry* e = cache.find(digest(1), 1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->session, nullptr);
  EXPECT_EQ(e->denial, AuthDenial::kWrongPassword);
  e = cache.find(digest(2), 1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->denial, AuthDenial::kUnknownKey);
}

TEST(AuthCache, TtlExpiresExactlyAtTheBoundary) {
  AuthCache cache(16, 1000);
  cache.insert(digest(1), positive(1), 5000);
  EXPECT_NE(cache.find(digest(1), 5999), nullptr);  // last valid millisecond
  EXPECT_EQ(cache.find(digest(1), 6000), nullptr);  // now_ms == expires_ms: gone
  EXPECT_EQ(cache.size(), 0u);  // the expired entry was dropped, not just hidden
  EXPECT_EQ(cache.find(digest(1), 5999), nullptr);  // and stays gone
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 2u);
  EXPECT_EQ(cache.stats().evictions, 0u);  // expiry is not eviction
}

TEST(AuthCache, FindDoesNotExtendTheTtl) {
  AuthCache cache(16, 100);
  cache.insert(digest(1), positive(1), 0);
  EXPECT_NE(cache.find(digest(1), 90), nullptr);
  EXPECT_EQ(cache.find(digest(1), 100), nullptr);
}

TEST(AuthCache, NotAfterCapsTheExpiry) {
  AuthCache cache(16, 1000);
  cache.insert(digest(1), positive(1), 5000, 5500);  // the key itself expires sooner
  EXPECT_EQ(cache.find(digest(1), 5000)->expires_ms, 5500u);
  EXPECT_NE(cache.find(digest(1), 5499), nullptr);
  EXPECT_EQ(cache.find(digest(1), 5500), nullptr);

  cache.insert(digest(2), positive(2), 5000, 9000);  // later than the TTL: TTL wins
  EXPECT_EQ(cache.find(digest(2), 5000)->expires_ms, 6000u);
  cache.insert(digest(3), positive(3), 5000, 0);  // 0: no cap
  EXPECT_EQ(cache.find(digest(3), 5000)->expires_ms, 6000u);
  cache.insert(digest(4), positive(4), 5000, 6000);  // equal: same either way
  EXPECT_EQ(cache.find(digest(4), 5000)->expires_ms, 6000u);
}

TEST(AuthCache, AlreadyExpiredInsertIsNotStored) {
  AuthCache cache(2, 1000);
  cache.insert(digest(1), positive(1), 0);
  cache.insert(digest(2), positive(2), 0);
  // A key past its expiry must not push out a live entry.
  cache.insert(digest(3), positive(3), 100, 100);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.stats().evictions, 0u);
  EXPECT_EQ(cache.find(digest(3), 100), nullptr);
  // Nor may an older answer for the same credential survive it.
  cache.insert(digest(1), positive(1), 100, 50);
  EXPECT_EQ(cache.find(digest(1), 100), nullptr);
  EXPECT_NE(cache.find(digest(2), 100), nullptr);
}

TEST(AuthCache, ZeroTtlCachesNothing) {
  AuthCache cache(4, 0);
  cache.insert(digest(1), positive(1), 10);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find(digest(1), 10), nullptr);
}

TEST(AuthCache, EvictsLeastRecentlyUsedAtTheBound) {
  AuthCache cache(3, 1000);
  EXPECT_EQ(cache.max_entries(), 3u);
  cache.insert(digest(1), positive(1), 0);
  cache.insert(digest(2), positive(2), 0);
  cache.insert(digest(3), positive(3), 0);
  EXPECT_EQ(cache.size(), 3u);  // max_entries entries are kept
  EXPECT_EQ(cache.stats().evictions, 0u);

  ASSERT_NE(cache.find(digest(1), 1), nullptr);  // 1 is now the most recent: 1, 3, 2
  cache.insert(digest(4), positive(4), 2);       // 2 goes: 4, 1, 3
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  cache.insert(digest(5), positive(5), 3);  // 3 goes: 5, 4, 1
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.stats().evictions, 2u);

  EXPECT_EQ(cache.find(digest(2), 4), nullptr);
  EXPECT_EQ(cache.find(digest(3), 4), nullptr);
  EXPECT_NE(cache.find(digest(1), 4), nullptr);
  EXPECT_NE(cache.find(digest(4), 4), nullptr);
  EXPECT_NE(cache.find(digest(5), 4), nullptr);
}

TEST(AuthCache, EvictedSlotCarriesTheNewEntry) {
  AuthCache cache(1, 1000);
  auto first = std::make_shared<SessionState>();
  auto second = std::make_shared<SessionState>();
  cache.insert(digest(1), positive(10, first), 0);
  cache.insert(digest(2), positive(20, second), 5);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.find(digest(1), 6), nullptr);
  const AuthEntry* e = cache.find(digest(2), 6);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->session, second);
  EXPECT_EQ(e->subject, digest(20));
  EXPECT_EQ(e->expires_ms, 1005u);
  EXPECT_EQ(first.use_count(), 1);  // the evicted entry let go of its session
  EXPECT_EQ(cache.invalidate_subject(digest(20)), 1u);  // and the index follows
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AuthCache, ZeroMaxEntriesMeansOne) {
  AuthCache cache(0, 1000);
  EXPECT_EQ(cache.max_entries(), 1u);
  cache.insert(digest(1), positive(1), 0);
  EXPECT_NE(cache.find(digest(1), 1), nullptr);
}

TEST(AuthCache, InsertReplacesAndRefreshes) {
  AuthCache cache(2, 1000);
  cache.insert(digest(1), positive(1), 0);
  cache.insert(digest(2), positive(2), 0);
  // A negative answer replaces the positive one (the key was deleted), with a new
  // expiry, and becomes the most recent entry.
  cache.insert(digest(1), negative(1), 500);
  EXPECT_EQ(cache.size(), 2u);
  cache.insert(digest(3), positive(3), 600);  // 2 is the least recent now
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.find(digest(2), 700), nullptr);
  const AuthEntry* e = cache.find(digest(1), 1400);  // past the first insert's TTL
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->session, nullptr);
  EXPECT_EQ(e->denial, AuthDenial::kUnknownKey);
  EXPECT_EQ(e->expires_ms, 1500u);
}

TEST(AuthCache, InvalidateSubjectDropsPositiveAndNegativeOfThatSubjectOnly) {
  AuthCache cache(16, 1000);
  // Subject 7: its key (positive), two wrong Basic passwords (negative) and a miss
  // recorded before the key was created; subject 8 and an unrelated miss stay.
  cache.insert(digest(1), positive(7), 0);
  cache.insert(digest(2), negative(7, AuthDenial::kWrongPassword), 0);
  cache.insert(digest(3), negative(7, AuthDenial::kWrongPassword), 0);
  cache.insert(digest(4), negative(7, AuthDenial::kUnknownKey), 0);
  cache.insert(digest(5), positive(8), 0);
  cache.insert(digest(6), negative(9), 0);

  EXPECT_EQ(cache.invalidate_subject(digest(7)), 4u);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.stats().invalidations, 4u);
  for (uint32_t gone : {1u, 2u, 3u, 4u}) EXPECT_EQ(cache.find(digest(gone), 1), nullptr);
  EXPECT_NE(cache.find(digest(5), 1), nullptr);
  EXPECT_NE(cache.find(digest(6), 1), nullptr);

  EXPECT_EQ(cache.invalidate_subject(digest(7)), 0u);  // nothing left
  EXPECT_EQ(cache.invalidate_subject(digest(42)), 0u);
  EXPECT_EQ(cache.stats().invalidations, 4u);
  EXPECT_EQ(cache.invalidate_subject(digest(8)), 1u);
  EXPECT_EQ(cache.stats().invalidations, 5u);

  // The cache keeps working after entries went from the middle of its order.
  cache.insert(digest(1), positive(7), 2);
  EXPECT_NE(cache.find(digest(1), 3), nullptr);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(AuthCache, StatsCountEachOutcome) {
  AuthCache cache(2, 100);
  cache.insert(digest(1), positive(1), 0);
  cache.find(digest(1), 1);    // hit
  cache.find(digest(1), 2);    // hit
  cache.find(digest(9), 3);    // miss: absent
  cache.find(digest(1), 100);  // miss: expired
  cache.insert(digest(1), positive(1), 100);
  cache.insert(digest(2), positive(2), 100);
  cache.insert(digest(3), positive(3), 100);  // eviction
  cache.invalidate_subject(digest(3));        // invalidation
  const AuthCacheStats& s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.invalidations, 1u);
}

TEST(AuthCache, ClearEmptiesButKeepsStats) {
  AuthCache cache(4, 1000);
  cache.insert(digest(1), positive(1), 0);
  cache.insert(digest(2), positive(2), 0);
  cache.find(digest(1), 1);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find(digest(1), 2), nullptr);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
  cache.insert(digest(1), positive(1), 3);
  EXPECT_NE(cache.find(digest(1), 4), nullptr);
}

TEST(AuthCache, HugeTtlDoesNotWrap) {
  AuthCache cache(4, UINT64_MAX);
  cache.insert(digest(1), positive(1), 1000);
  const AuthEntry* e = cache.find(digest(1), 1001);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->expires_ms, UINT64_MAX);
}

TEST(AuthCache, ManyEntriesStayConsistent) {
  AuthCache cache(100, 1000);
  for (uint32_t i = 0; i < 1000; ++i) cache.insert(digest(i), positive(i % 10), i);
  EXPECT_EQ(cache.size(), 100u);
  EXPECT_EQ(cache.stats().evictions, 900u);
  for (uint32_t i = 0; i < 900; ++i) EXPECT_EQ(cache.find(digest(i), 999), nullptr);
  for (uint32_t i = 900; i < 1000; ++i) EXPECT_NE(cache.find(digest(i), 999), nullptr);
  EXPECT_EQ(cache.invalidate_subject(digest(3)), 10u);
  EXPECT_EQ(cache.size(), 90u);
}

}  // namespace
}  // namespace ringway
