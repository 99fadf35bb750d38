#pragma once
// A shard's authentication cache: the answers of the key store (and of bcrypt) for
// the credentials this shard has seen, so repeat requests are decided without
// leaving the shard. Bounded (max_entries, least recently used evicted first), each
// entry valid for ttl_ms, positive (the key's session) and negative (unknown key,
// wrong password) alike. One per shard, used only by its thread: no locks.
//
// Entries are indexed by a credential digest: for a token, the key's digest
// (key_digest(key)); for Basic auth, a digest of user and password. Each also names
// its subject: the digest of the key / user name it is about, so a revoke, delete or
// update of that key (invalidate_subject) drops every entry about it, including the
// negative ones (a key created after a miss must work at once).

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>

#include "store/key_hash.h"
#include "store/session.h"

namespace ringway {

struct KeyDigestHash {
  size_t operator()(const KeyDigest& d) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= sizeof(KeyDigest));
    __builtin_memcpy(&h, d.data(), sizeof(h));  // a SHA-256 digest is uniform already
    return h;
  }
};

// Why a negative entry says no.
enum class AuthDenial : uint8_t {
  kNone,           // positive entry
  kUnknownKey,     // no such key / user
  kWrongPassword,  // Basic: the user exists, the password does not match
};

struct AuthEntry {
  std::shared_ptr<const SessionState> session;  // null for a negative entry
  AuthDenial denial = AuthDenial::kNone;
  KeyDigest subject{};
  uint64_t expires_ms = 0;  // loop milliseconds
  std::string key_id;  // custom auth: the plugin's token (what later plugin hooks see)
};

struct AuthCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;  // absent or expired
  uint64_t evictions = 0;  // dropped for room
  uint64_t invalidations = 0;  // dropped by invalidate_subject
};

class AuthCache {
 public:
  AuthCache(size_t max_entries, uint64_t ttl_ms);
  AuthCache(const AuthCache&) = delete;
  AuthCache& operator=(const AuthCache&) = delete;

  // The live entry for |credential| (refreshing its recency), or null (an expired one
  // is dropped). The pointer is valid until the next non-const call.
  const AuthEntry* find(const KeyDigest& credential, uint64_t now_ms);
  // Adds or replaces; expires_ms is set to now_ms + ttl_ms, capped by |not_after_ms|
  // when non-zero (a key that expires sooner). Evicts the least recently used entry
  // beyond max_entries.
  void insert(const KeyDigest& credential, AuthEntry entry, uint64_t now_ms,
              uint64_t not_after_ms = 0);
  // Drops every entry whose subject is |subject|; returns how many.
  size_t invalidate_subject(const KeyDigest& subject);
  void clear();

  size_t size() const { return map_.size(); }
  size_t max_entries() const { return max_entries_; }
  uint64_t ttl_ms() const { return ttl_ms_; }
  const AuthCacheStats& stats() const { return stats_; }

 private:
  struct Node;
  using Lru = std::list<Node>;
  struct Node {
    KeyDigest credential;
    AuthEntry entry;
  };

  size_t max_entries_;
  uint64_t ttl_ms_;
  Lru lru_;  // most recent first
  std::unordered_map<KeyDigest, Lru::iterator, KeyDigestHash> map_;
  AuthCacheStats stats_;
};

}  // namespace ringway
