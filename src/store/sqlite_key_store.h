#pragma once
// The embedded key store: one SQLite file in WAL mode, created on first open, one
// row per key (key_hash primary key, the session as Tyk's JSON). Used from one
// thread (the store thread).

#include <string>

#include "store/key_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ringway {

class SqliteKeyStore final : public KeyStore {
 public:
  explicit SqliteKeyStore(std::string path);
  ~SqliteKeyStore() override;
  SqliteKeyStore(const SqliteKeyStore&) = delete;
  SqliteKeyStore& operator=(const SqliteKeyStore&) = delete;

  bool open(std::string* error) override;
  StoreResult get(std::string_view key_hash, SessionState* out, std::string* error) override;
  StoreResult put(std::string_view key_hash, const SessionState& session,
                  std::string* error) override;
  StoreResult remove(std::string_view key_hash, std::string* error) override;
  StoreResult list(std::vector<std::string>* key_hashes, std::string* error) override;
  StoreResult apply_quota_usage(const std::vector<QuotaUsage>& usage, int64_t now_unix,
                                std::vector<QuotaState>* after, std::string* error) override;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  // Prepared once at open.
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* remove_ = nullptr;
  sqlite3_stmt* list_ = nullptr;
};

}  // namespace ringway
