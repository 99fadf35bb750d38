// Per-request cost of authentication on a shard: the cache lookup that decides a
// repeat credential, the cache churn of a stream of new credentials, reading the
// Authorization header, and the rate-limit check.

#include <benchmark/benchmark.h>
#include <openssl/sha.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_cache.h"
#include "auth/credentials.h"
#include "auth/rate_limiter.h"

namespace ringway {
namespace {

constexpr size_t kEntries = 10000;

// Real SHA-256 digests of key-like strings, so the hash spreads as in production.
KeyDigest digest_of(uint32_t n) {
  std::string key = "5d8aaf6e1a2b4e9c" + std::to_string(n);
  KeyDigest d;
  SHA256(reinterpret_cast<const uint8_t*>(key.data()), key.size(), d.data());
  return d;
}

std::vector<KeyDigest> make_digests(size_t n) {
  std::vector<KeyDigest> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(digest_of(static_cast<uint32_t>(i)));
  return out;
}

AuthEntry entry_for(const KeyDigest& subject, std::shared_ptr<const SessionState> session) {
  AuthEntry e;
  e.session = std::move(session);
  e.subject = subject;
  return e;
}

// A full cache of 10 000 entries; lookups cycle through all of them (so the LRU list
// is walked in an order the CPU cannot keep in L1).
void BM_AuthCacheFindHit(benchmark::State& state) {
  const std::vector<KeyDigest> keys = make_digests(kEntries);
  auto session = std::make_shared<const SessionState>();
  AuthCache cache(kEntries, 60000);
  for (const KeyDigest& k : keys) cache.insert(k, entry_for(k, session), 0);
  size_t i = 0;
  uint64_t now = 1;
  for (auto _ : state) {
    const AuthEntry* e = cache.find(keys[i], now);
    benchmark::DoNotOptimize(e);
    if (++i == keys.size()) i = 0;
  }
  if (cache.stats().misses != 0) state.SkipWithError("unexpected miss");
}
BENCHMARK(BM_AuthCacheFindHit);

// Every insert is a new credential into a full cache: one eviction each.
void BM_AuthCacheInsertEvict(benchmark::State& state) {
  const std::vector<KeyDigest> keys = make_digests(2 * kEntries);
  auto session = std::make_shared<const SessionState>();
  AuthCache cache(kEntries, 60000);
  for (size_t k = kEntries; k < keys.size(); ++k) {
    cache.insert(keys[k], entry_for(keys[k], session), 0);
  }
  size_t i = 0;  // cycling over twice the bound: the key inserted is never present
  for (auto _ : state) {
    cache.insert(keys[i], entry_for(keys[i], session), 1);
    if (++i == keys.size()) i = 0;
  }
  state.counters["evictions"] = static_cast<double>(cache.stats().evictions);
}
BENCHMARK(BM_AuthCacheInsertEvict);

void BM_ParseBasicAuthorization(benchmark::State& state) {
  // "alice@example.com:correct-horse-battery-staple"
  const std::string header =
      "Basic YWxpY2VAZXhhbXBsZS5jb206Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5LXN0YXBsZQ==";
  BasicCredentials creds;
  for (auto _ : state) {
    BasicParse r = parse_basic_authorization(header, &creds);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(creds.password.data());
  }
  if (creds.user != "alice@example.com") state.SkipWithError("parse failed");
}
BENCHMARK(BM_ParseBasicAuthorization);

void BM_ExtractToken(benchmark::State& state) {
  const std::string header = "Bearer 5d8aaf6e1a2b4e9c8a1b2c3d4e5f6a7b";
  for (auto _ : state) {
    benchmark::DoNotOptimize(header.data());
    std::string_view token = extract_token(header);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_ExtractToken);

// One existing key among 10 000 buckets, with a limit it never reaches.
void BM_RateLimiterCheckExisting(benchmark::State& state) {
  const std::vector<KeyDigest> keys = make_digests(kEntries);
  RateLimiter limiter(2 * kEntries, 4);
  for (const KeyDigest& k : keys) limiter.check(k, 1e9, 1, 0);
  const KeyDigest& key = keys[kEntries / 2];
  uint64_t now_us = 1;
  for (auto _ : state) {
    RateDecision d = limiter.check(key, 1e9, 1, now_us);
    benchmark::DoNotOptimize(d);
    now_us += 1;
  }
}
BENCHMARK(BM_RateLimiterCheckExisting);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
