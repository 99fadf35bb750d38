#include "auth/auth_cache.h"

#include <cstdint>
#include <iterator>
#include <utility>

namespace ringway {

// A cache of at least one entry (0 would evict every insert at once).
AuthCache::AuthCache(size_t max_entries, uint64_t ttl_ms)
    : max_entries_(max_entries > 0 ? max_entries : 1), ttl_ms_(ttl_ms) {}

const AuthEntry* AuthCache::find(const KeyDigest& credential, uint64_t now_ms) {
  auto it = map_.find(credential);
  if (it == map_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  Lru::iterator node = it->second;
  // Valid up to, not including, expires_ms: a TTL of 1000 ms inserted at t answers at
  // t + 999 and no longer at t + 1000.
  if (now_ms >= node->entry.expires_ms) {
    map_.erase(it);
    lru_.erase(node);
    ++stats_.misses;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, node);
  ++stats_.hits;
  return &node->entry;
}

void AuthCache::insert(const KeyDigest& credential, AuthEntry entry, uint64_t now_ms,
                       uint64_t not_after_ms) {
  // Saturating: a huge ttl_ms means "until evicted or invalidated", not a wrap.
  uint64_t expires = ttl_ms_ > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + ttl_ms_;
  if (not_after_ms != 0 && not_after_ms < expires) expires = not_after_ms;
  entry.expires_ms = expires;

  auto it = map_.find(credential);
  if (expires <= now_ms) {
    // Dead on arrival (ttl_ms 0, or a key already past its expiry): storing it would
    // only push out a live entry. An older answer for the same credential goes too, as
    // a replacement would have.
    if (it != map_.end()) {
      lru_.erase(it->second);
      map_.erase(it);
    }
    return;
  }
  if (it != map_.end()) {
    it->second->entry = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (map_.size() >= max_entries_) {
    // Full: the least recently used node and its map node are reused for the new
    // credential, so a steady stream of misses allocates nothing.
    Lru::iterator victim = std::prev(lru_.end());
    auto handle = map_.extract(victim->credential);
    victim->credential = credential;
    victim->entry = std::move(entry);
    lru_.splice(lru_.begin(), lru_, victim);
    handle.key() = credential;
    map_.insert(std::move(handle));
    ++stats_.evictions;
    return;
  }
  lru_.push_front(Node{credential, std::move(entry)});
  map_.emplace(credential, lru_.begin());
}

// A linear scan: revocations, deletes and updates of keys are rare admin operations,
// far rarer than lookups, so a second index by subject (and its upkeep on every
// insert and eviction) would cost more than it saves.
size_t AuthCache::invalidate_subject(const KeyDigest& subject) {
  size_t dropped = 0;
  for (auto node = lru_.begin(); node != lru_.end();) {
    if (node->entry.subject == subject) {
      map_.erase(node->credential);
      node = lru_.erase(node);
      ++dropped;
    } else {
      ++node;
    }
  }
  stats_.invalidations += dropped;
  return dropped;
}

// Stats are kept: they count over the cache's life, not since the last clear.
void AuthCache::clear() {
  map_.clear();
  lru_.clear();
}

}  // namespace ringway
