#pragma once
// Where keys and Basic-auth users live, by key hash (store/key_hash.h). Called only
// from the store thread, synchronously; the shards never see this interface (they
// post lookups through their mailboxes). SQLite is the embedded default; a networked
// backend (Redis, for a fleet of gateways) implements the same interface.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/session.h"

namespace ringway {

enum class StoreResult : uint8_t { kOk, kNotFound, kError };

// Requests one shard counted against a key's quota since its last report.
struct QuotaUsage {
  std::string key_hash;
  int64_t used = 0;
};

// A key's quota after a batch was applied.
struct QuotaState {
  std::string key_hash;
  int64_t quota_remaining = 0;
  int64_t quota_renews = 0;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Opens (creating when missing) the store.
  virtual bool open(std::string* error) = 0;
  virtual StoreResult get(std::string_view key_hash, SessionState* out, std::string* error) = 0;
  // Inserts or replaces.
  virtual StoreResult put(std::string_view key_hash, const SessionState& session,
                          std::string* error) = 0;
  virtual StoreResult remove(std::string_view key_hash, std::string* error) = 0;
  // Every key hash, sorted.
  virtual StoreResult list(std::vector<std::string>* key_hashes, std::string* error) = 0;
  // Applies a batch of usage in one transaction: for each key with a quota, renews it
  // first when |now_unix| reached quota_renews (remaining = quota_max, renews = now +
  // quota_renewal_rate), then subtracts |used| (not below 0). Keys without a quota or
  // gone are skipped. |after| receives the new state of every key changed.
  virtual StoreResult apply_quota_usage(const std::vector<QuotaUsage>& usage, int64_t now_unix,
                                        std::vector<QuotaState>* after, std::string* error) = 0;
};

}  // namespace ringway
