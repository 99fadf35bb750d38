#include "store/sqlite_key_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>
#include <unordered_map>
#include <utility>

namespace ringway {
namespace {

constexpr int kSchemaVersion = 1;
// The store thread waits this long for another connection (an operator's sqlite3
// shell, a backup) before reporting SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;

// Resets a statement when the call using it returns, so no read stays open.
class StatementScope {
 public:
  explicit StatementScope(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementScope() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementScope(const StatementScope&) = delete;
  StatementScope& operator=(const StatementScope&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

int bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT,
                             SQLITE_UTF8);
}

std::string column_text(sqlite3_stmt* stmt, int index) {
  const unsigned char* text = sqlite3_column_text(stmt, index);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, index)));
}

int64_t saturating_add(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) {
    return std::numeric_limits<int64_t>::max();
  }
  return a + b;
}

}  // namespace

SqliteKeyStore::SqliteKeyStore(std::string path) : path_(std::move(path)) {}

SqliteKeyStore::~SqliteKeyStore() {
  for (sqlite3_stmt* stmt : {get_, put_, remove_, list_}) sqlite3_finalize(stmt);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

bool SqliteKeyStore::open(std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  if (db_ != nullptr) return true;
  const bool in_memory = path_ == ":memory:";  // for tests of the layers above
  if (!in_memory) {
    // Created here rather than by SQLite so the file (and the -wal/-shm files, which
    // SQLite gives the same mode) is readable by the owner only: it holds bcrypt hashes.
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      int err = errno;
      *error = path_ + ": cannot open key store: " + strerror(err);
      if (err == ENOENT) *error += " (its directory must exist)";
      return false;
    }
    ::close(fd);
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    *error = path_ + ": cannot open key store: " +
             (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return false;
  }
  db_ = db;
  auto fail = [&](const std::string& what) {
    *error = path_ + ": " + what;
    for (sqlite3_stmt** stmt : {&get_, &put_, &remove_, &list_}) {
      sqlite3_finalize(*stmt);
      *stmt = nullptr;
    }
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return false;
  };
  auto db_error = [&](const char* what) {
    return fail(std::string(what) + ": " + sqlite3_errmsg(db_));
  };

  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db_, 1);

  // WAL: readers (a backup, an operator) never block the store thread's writes.
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK) {
      return db_error("PRAGMA journal_mode");
    }
    rc = sqlite3_step(stmt);
    std::string mode = rc == SQLITE_ROW ? column_text(stmt, 0) : std::string();
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) return db_error("PRAGMA journal_mode");
    if (mode != "wal" && !(in_memory && mode == "memory")) {
      return fail("journal_mode is \"" + mode + "\", not \"wal\"");
    }
  }
  // NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file.
  if (sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return db_error("PRAGMA synchronous");
  }

  // The schema, checked and created in one write transaction so two processes opening
  // a new file at once do not both create it.
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return db_error("BEGIN");
  }
  auto rollback_fail = [&](const std::string& what) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return fail(what);
  };
  auto rollback_db_error = [&](const char* what) {
    return rollback_fail(std::string(what) + ": " + sqlite3_errmsg(db_));
  };
  if (sqlite3_exec(db_, "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT)",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return rollback_db_error("creating table meta");
  }
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE name = 'schema_version'", -1,
                           &stmt, nullptr) != SQLITE_OK) {
      return rollback_db_error("reading schema_version");
    }
    rc = sqlite3_step(stmt);
    std::string version = rc == SQLITE_ROW ? column_text(stmt, 0) : std::string();
    sqlite3_finalize(stmt);
    if (rc == SQLITE_ROW) {
      char* end = nullptr;
      long v = strtol(version.c_str(), &end, 10);
      if (version.empty() || *end != '\0' || v < 1) {
        return rollback_fail("schema_version \"" + version + "\" is not a version number");
      }
      if (v > kSchemaVersion) {
        return rollback_fail("schema_version " + version + " is newer than this Ringway reads (" +
                             std::to_string(kSchemaVersion) + "); use a newer Ringway");
      }
    } else if (rc == SQLITE_DONE) {
      if (sqlite3_exec(db_, "INSERT INTO meta(name, value) VALUES('schema_version', '1')",
                       nullptr, nullptr, nullptr) != SQLITE_OK) {
        return rollback_db_error("writing schema_version");
      }
    } else {
      return rollback_db_error("reading schema_version");
    }
  }
  if (sqlite3_exec(db_,
                   "CREATE TABLE IF NOT EXISTS keys(key_hash TEXT PRIMARY KEY, "
                   "session TEXT NOT NULL, updated INTEGER NOT NULL)",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return rollback_db_error("creating table keys");
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return rollback_db_error("COMMIT");
  }

  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } const statements[] = {
      {&get_, "SELECT session FROM keys WHERE key_hash = ?1"},
      {&put_, "INSERT OR REPLACE INTO keys(key_hash, session, updated) VALUES(?1, ?2, ?3)"},
      {&remove_, "DELETE FROM keys WHERE key_hash = ?1"},
      {&list_, "SELECT key_hash FROM keys ORDER BY key_hash"},
  };
  for (const auto& s : statements) {
    if (sqlite3_prepare_v3(db_, s.sql, -1, SQLITE_PREPARE_PERSISTENT, s.stmt, nullptr) !=
        SQLITE_OK) {
      return db_error("preparing statements");
    }
  }
  return true;
}

StoreResult SqliteKeyStore::get(std::string_view key_hash, SessionState* out,
                                std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  if (db_ == nullptr) {
    *error = "key store is not open";
    return StoreResult::kError;
  }
  StatementScope scope(get_);
  if (bind_text(get_, 1, key_hash) != SQLITE_OK) {
    *error = std::string("get: ") + sqlite3_errmsg(db_);
    return StoreResult::kError;
  }
  int rc = sqlite3_step(get_);
  if (rc == SQLITE_DONE) return StoreResult::kNotFound;
  if (rc != SQLITE_ROW) {
    *error = std::string("get: ") + sqlite3_errmsg(db_);
    return StoreResult::kError;
  }
  std::string parse_error;
  if (!parse_session_json(column_text(get_, 0), out, &parse_error)) {
    *error = "stored session of " + std::string(key_hash) + ": " + parse_error;
    return StoreResult::kError;
  }
  return StoreResult::kOk;
}

StoreResult SqliteKeyStore::put(std::string_view key_hash, const SessionState& session,
                                std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  if (db_ == nullptr) {
    *error = "key store is not open";
    return StoreResult::kError;
  }
  StatementScope scope(put_);
  std::string json = session_to_json(session);
  if (bind_text(put_, 1, key_hash) != SQLITE_OK || bind_text(put_, 2, json) != SQLITE_OK ||
      sqlite3_bind_int64(put_, 3, static_cast<sqlite3_int64>(time(nullptr))) != SQLITE_OK ||
      sqlite3_step(put_) != SQLITE_DONE) {
    *error = std::string("put: ") + sqlite3_errmsg(db_);
    return StoreResult::kError;
  }
  return StoreResult::kOk;
}

StoreResult SqliteKeyStore::remove(std::string_view key_hash, std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  if (db_ == nullptr) {
    *error = "key store is not open";
    return StoreResult::kError;
  }
  StatementScope scope(remove_);
  if (bind_text(remove_, 1, key_hash) != SQLITE_OK || sqlite3_step(remove_) != SQLITE_DONE) {
    *error = std::string("remove: ") + sqlite3_errmsg(db_);
    return StoreResult::kError;
  }
  return sqlite3_changes(db_) > 0 ? StoreResult::kOk : StoreResult::kNotFound;
}

StoreResult SqliteKeyStore::list(std::vector<std::string>* key_hashes, std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  key_hashes->clear();
  if (db_ == nullptr) {
    *error = "key store is not open";
    return StoreResult::kError;
  }
  StatementScope scope(list_);
  int rc;
  while ((rc = sqlite3_step(list_)) == SQLITE_ROW) key_hashes->push_back(column_text(list_, 0));
  if (rc != SQLITE_DONE) {
    *error = std::string("list: ") + sqlite3_errmsg(db_);
    key_hashes->clear();
    return StoreResult::kError;
  }
  return StoreResult::kOk;
}

StoreResult SqliteKeyStore::apply_quota_usage(const std::vector<QuotaUsage>& usage,
                                              int64_t now_unix, std::vector<QuotaState>* after,
                                              std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  after->clear();
  if (db_ == nullptr) {
    *error = "key store is not open";
    return StoreResult::kError;
  }
  if (usage.empty()) return StoreResult::kOk;
  // One entry per key (in first-seen order), so a key reported twice in a batch is
  // renewed at most once and appears once in |after|.
  std::vector<QuotaUsage> merged;
  merged.reserve(usage.size());
  std::unordered_map<std::string_view, size_t> index;
  for (const QuotaUsage& u : usage) {
    int64_t used = u.used > 0 ? u.used : 0;
    auto [it, inserted] = index.emplace(u.key_hash, merged.size());
    if (inserted) {
      merged.push_back(QuotaUsage{u.key_hash, used});
    } else {
      merged[it->second].used = saturating_add(merged[it->second].used, used);
    }
  }

  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    *error = std::string("quota: BEGIN: ") + sqlite3_errmsg(db_);
    return StoreResult::kError;
  }
  auto rollback = [&](const std::string& what) {
    *error = "quota: " + what;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    after->clear();
    return StoreResult::kError;
  };
  const int64_t updated = static_cast<int64_t>(time(nullptr));
  for (const QuotaUsage& u : merged) {
    SessionState session;
    {
      StatementScope scope(get_);
      if (bind_text(get_, 1, u.key_hash) != SQLITE_OK) return rollback(sqlite3_errmsg(db_));
      int rc = sqlite3_step(get_);
      if (rc == SQLITE_DONE) continue;  // deleted since the shard counted it
      if (rc != SQLITE_ROW) return rollback(sqlite3_errmsg(db_));
      // A row that does not parse cannot be accounted; get() reports it, and one bad
      // row must not stop quota accounting for every other key.
      std::string ignored;
      if (!parse_session_json(column_text(get_, 0), &session, &ignored)) continue;
    }
    if (!session.has_quota()) continue;
    bool changed = false;
    // A quota without a renewal period never renews (renewing it on every batch would
    // make it unlimited). quota_renews == 0 (never set) renews now and starts the clock.
    if (session.quota_renewal_rate > 0 && now_unix >= session.quota_renews) {
      session.quota_remaining = session.quota_max;
      session.quota_renews = saturating_add(now_unix, session.quota_renewal_rate);
      changed = true;
    }
    if (u.used > 0) {
      int64_t remaining = session.quota_remaining > u.used ? session.quota_remaining - u.used : 0;
      changed = changed || remaining != session.quota_remaining;
      session.quota_remaining = remaining;
    }
    if (!changed) continue;
    {
      StatementScope scope(put_);
      std::string json = session_to_json(session);
      if (bind_text(put_, 1, u.key_hash) != SQLITE_OK || bind_text(put_, 2, json) != SQLITE_OK ||
          sqlite3_bind_int64(put_, 3, updated) != SQLITE_OK || sqlite3_step(put_) != SQLITE_DONE) {
        return rollback(sqlite3_errmsg(db_));
      }
    }
    after->push_back(QuotaState{u.key_hash, session.quota_remaining, session.quota_renews});
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return rollback(std::string("COMMIT: ") + sqlite3_errmsg(db_));
  }
  return StoreResult::kOk;
}

}  // namespace ringway
