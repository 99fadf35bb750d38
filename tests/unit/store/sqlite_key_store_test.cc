#include "store/sqlite_key_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/key_hash.h"

namespace ringway {
namespace {

class SqliteKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ringway-store-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/keys.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<SqliteKeyStore> open_store(const std::string& path) {
    auto store = std::make_unique<SqliteKeyStore>(path);
    std::string error;
    EXPECT_TRUE(store->open(&error)) << error;
    return store;
  }
  std::unique_ptr<SqliteKeyStore> open_store() { return open_store(path_); }

  // A second connection, as an operator's sqlite3 shell would be.
  std::string query_one(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }
  void exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << (message != nullptr ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
  }

  std::string dir_;
  std::string path_;
};

SessionState quota_session(int64_t max, int64_t remaining, int64_t renews, int64_t rate) {
  SessionState s;
  s.quota_max = max;
  s.quota_remaining = remaining;
  s.quota_renews = renews;
  s.quota_renewal_rate = rate;
  return s;
}

TEST_F(SqliteKeyStoreTest, OpenCreatesTheFileInWalMode) {
  ASSERT_FALSE(std::filesystem::exists(path_));
  auto store = open_store();
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ(query_one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_one("SELECT value FROM meta WHERE name = 'schema_version'"), "1");
  EXPECT_EQ(query_one("SELECT count(*) FROM keys"), "0");
  // Only the owner may read a file of key hashes and bcrypt hashes.
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Opening twice is harmless.
  std::string error;
  EXPECT_TRUE(store->open(&error)) << error;
}

TEST_F(SqliteKeyStoreTest, PutGetRemoveList) {
  auto store = open_store();
  std::string error;
  SessionState a;
  a.rate = 10;
  a.per = 60;
  a.alias = "alice";
  a.access_rights["api1"] = AccessDefinition{"API 1", "api1", {"Default"}};
  a.meta_data = R"({"team":"a"})";
  a.extra = R"({"hmac_enabled":false})";
  SessionState b;
  b.basic_auth_data = {"$2b$04$abcdefghijklmnopqrstuu5Ww0G0F2bZ2Vbq0YHv1rpc1gKD8V2Ey", "bcrypt"};
  const std::string ha = hash_key("key-a");
  const std::string hb = hash_key("key-b");
  ASSERT_EQ(store->put(hb, b, &error), StoreResult::kOk) << error;
  ASSERT_EQ(store->put(ha, a, &error), StoreResult::kOk) << error;

  SessionState got;
  ASSERT_EQ(store->get(ha, &got, &error), StoreResult::kOk) << error;
  EXPECT_EQ(got.rate, 10);
  EXPECT_EQ(got.per, 60);
  EXPECT_EQ(got.alias, "alice");
  ASSERT_EQ(got.access_rights.count("api1"), 1u);
  EXPECT_EQ(got.access_rights.at("api1").versions, std::vector<std::string>{"Default"});
  EXPECT_EQ(got.meta_data, R"({"team":"a"})");
  EXPECT_EQ(got.extra, R"({"hmac_enabled":false})");
  ASSERT_EQ(store->get(hb, &got, &error), StoreResult::kOk) << error;
  EXPECT_TRUE(got.is_basic_user());
  EXPECT_EQ(got.basic_auth_data.hash_type, "bcrypt");

  std::vector<std::string> hashes;
  ASSERT_EQ(store->list(&hashes, &error), StoreResult::kOk) << error;
  std::vector<std::string> sorted = {ha, hb};
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(hashes, sorted);

  EXPECT_EQ(store->remove(ha, &error), StoreResult::kOk) << error;
  EXPECT_EQ(store->get(ha, &got, &error), StoreResult::kNotFound);
  ASSERT_EQ(store->list(&hashes, &error), StoreResult::kOk) << error;
  EXPECT_EQ(hashes, std::vector<std::string>{hb});
}

TEST_F(SqliteKeyStoreTest, MissingKeys) {
  auto store = open_store();
  std::string error;
  SessionState got;
  got.alias = "untouched";
  EXPECT_EQ(store->get(hash_key("nope"), &got, &error), StoreResult::kNotFound);
  EXPECT_EQ(got.alias, "untouched");
  EXPECT_EQ(store->remove(hash_key("nope"), &error), StoreResult::kNotFound);
  std::vector<std::string> hashes = {"stale"};
  EXPECT_EQ(store->list(&hashes, &error), StoreResult::kOk) << error;
  EXPECT_TRUE(hashes.empty());
  // A removed key is gone for a second remove too.
  ASSERT_EQ(store->put("h", SessionState{}, &error), StoreResult::kOk) << error;
  EXPECT_EQ(store->remove("h", &error), StoreResult::kOk);
  EXPECT_EQ(store->remove("h", &error), StoreResult::kNotFound);
}

TEST_F(SqliteKeyStoreTest, PutReplaces) {
  auto store = open_store();
  std::string error;
  SessionState s;
  s.alias = "first";
  s.tags = {"a", "b"};
  ASSERT_EQ(store->put("h", s, &error), StoreResult::kOk) << error;
  s.alias = "second";
  s.tags = {};
  ASSERT_EQ(store->put("h", s, &error), StoreResult::kOk) << error;
  SessionState got;
  ASSERT_EQ(store->get("h", &got, &error), StoreResult::kOk) << error;
  EXPECT_EQ(got.alias, "second");
  EXPECT_TRUE(got.tags.empty());
  std::vector<std::string> hashes;
  ASSERT_EQ(store->list(&hashes, &error), StoreResult::kOk);
  EXPECT_EQ(hashes.size(), 1u);
}

TEST_F(SqliteKeyStoreTest, PersistsAcrossReopen) {
  std::string error;
  {
    auto store = open_store();
    for (int i = 0; i < 50; ++i) {
      SessionState s;
      s.alias = "user" + std::to_string(i);
      s.quota_max = i;
      ASSERT_EQ(store->put(hash_key(s.alias), s, &error), StoreResult::kOk) << error;
    }
    ASSERT_EQ(store->remove(hash_key("user7"), &error), StoreResult::kOk);
  }
  auto store = open_store();
  std::vector<std::string> hashes;
  ASSERT_EQ(store->list(&hashes, &error), StoreResult::kOk) << error;
  EXPECT_EQ(hashes.size(), 49u);
  EXPECT_TRUE(std::is_sorted(hashes.begin(), hashes.end()));
  SessionState got;
  ASSERT_EQ(store->get(hash_key("user42"), &got, &error), StoreResult::kOk) << error;
  EXPECT_EQ(got.alias, "user42");
  EXPECT_EQ(got.quota_max, 42);
  EXPECT_EQ(store->get(hash_key("user7"), &got, &error), StoreResult::kNotFound);
  EXPECT_EQ(query_one("SELECT value FROM meta WHERE name = 'schema_version'"), "1");
}

TEST_F(SqliteKeyStoreTest, StoredRowsAreTykJson) {
  auto store = open_store();
  std::string error;
  SessionState s;
  s.alias = "bob";
  ASSERT_EQ(store->put("h", s, &error), StoreResult::kOk) << error;
  std::string json = query_one("SELECT session FROM keys WHERE key_hash = 'h'");
  EXPECT_NE(json.find(R"("alias":"bob")"), std::string::npos) << json;
  EXPECT_GT(std::stoll(query_one("SELECT updated FROM keys WHERE key_hash = 'h'")), 1600000000);
}

TEST_F(SqliteKeyStoreTest, CorruptRowIsAnErrorNamingTheKey) {
  { auto store = open_store(); }
  exec("INSERT INTO keys VALUES('bad', '{\"rate\":\"x\"}', 0)");
  auto store = open_store();
  std::string error;
  SessionState got;
  EXPECT_EQ(store->get("bad", &got, &error), StoreResult::kError);
  EXPECT_NE(error.find("bad"), std::string::npos) << error;
  EXPECT_NE(error.find("rate: expected a number"), std::string::npos) << error;
}

TEST_F(SqliteKeyStoreTest, QuotaDecrementsAndFloorsAtZero) {
  auto store = open_store();
  std::string error;
  const int64_t now = 1700000000;
  ASSERT_EQ(store->put("a", quota_session(100, 100, now + 3600, 3600), &error), StoreResult::kOk);
  ASSERT_EQ(store->put("b", quota_session(10, 3, now + 3600, 3600), &error), StoreResult::kOk);
  std::vector<QuotaState> after;
  ASSERT_EQ(store->apply_quota_usage({{"a", 30}, {"b", 5}}, now, &after, &error),
            StoreResult::kOk)
      << error;
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].key_hash, "a");
  EXPECT_EQ(after[0].quota_remaining, 70);
  EXPECT_EQ(after[0].quota_renews, now + 3600);
  EXPECT_EQ(after[1].key_hash, "b");
  EXPECT_EQ(after[1].quota_remaining, 0);
  SessionState got;
  ASSERT_EQ(store->get("a", &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 70);
  EXPECT_EQ(got.quota_max, 100);
  ASSERT_EQ(store->get("b", &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 0);
  // Already at zero: nothing changes, nothing reported.
  ASSERT_EQ(store->apply_quota_usage({{"b", 1}}, now, &after, &error), StoreResult::kOk);
  EXPECT_TRUE(after.empty());
  ASSERT_EQ(store->get("b", &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 0);
}

TEST_F(SqliteKeyStoreTest, QuotaRenewsWhenDue) {
  auto store = open_store();
  std::string error;
  const int64_t now = 1700000000;
  ASSERT_EQ(store->put("due", quota_session(100, 0, now - 1, 60), &error), StoreResult::kOk);
  ASSERT_EQ(store->put("exact", quota_session(100, 5, now, 60), &error), StoreResult::kOk);
  ASSERT_EQ(store->put("later", quota_session(100, 5, now + 1, 60), &error), StoreResult::kOk);
  // Never renewed yet (quota_renews 0): renews now and starts the period.
  ASSERT_EQ(store->put("fresh", quota_session(50, 0, 0, 600), &error), StoreResult::kOk);
  std::vector<QuotaState> after;
  ASSERT_EQ(store->apply_quota_usage({{"due", 10}, {"exact", 1}, {"later", 1}, {"fresh", 2}}, now,
                                     &after, &error),
            StoreResult::kOk)
      << error;
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[0].quota_remaining, 90);
  EXPECT_EQ(after[0].quota_renews, now + 60);
  EXPECT_EQ(after[1].quota_remaining, 99);
  EXPECT_EQ(after[1].quota_renews, now + 60);
  EXPECT_EQ(after[2].quota_remaining, 4);
  EXPECT_EQ(after[2].quota_renews, now + 1);
  EXPECT_EQ(after[3].quota_remaining, 48);
  EXPECT_EQ(after[3].quota_renews, now + 600);
  SessionState got;
  ASSERT_EQ(store->get("due", &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 90);
  EXPECT_EQ(got.quota_renews, now + 60);
  // A renewal alone (nothing used) is a change too.
  ASSERT_EQ(store->apply_quota_usage({{"due", 0}}, now + 60, &after, &error), StoreResult::kOk);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].quota_remaining, 100);
  EXPECT_EQ(after[0].quota_renews, now + 120);
}

TEST_F(SqliteKeyStoreTest, QuotaWithoutRenewalPeriodNeverRenews) {
  auto store = open_store();
  std::string error;
  const int64_t now = 1700000000;
  ASSERT_EQ(store->put("once", quota_session(10, 4, 0, 0), &error), StoreResult::kOk);
  std::vector<QuotaState> after;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(store->apply_quota_usage({{"once", 1}}, now + i, &after, &error), StoreResult::kOk);
  }
  SessionState got;
  ASSERT_EQ(store->get("once", &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 1);
  EXPECT_EQ(got.quota_renews, 0);
}

TEST_F(SqliteKeyStoreTest, QuotaSkipsKeysWithoutQuotaAndMissingKeys) {
  auto store = open_store();
  std::string error;
  SessionState unlimited;  // quota_max -1
  unlimited.quota_remaining = 7;
  ASSERT_EQ(store->put("unlimited", unlimited, &error), StoreResult::kOk);
  ASSERT_EQ(store->put("q", quota_session(10, 10, 2000000000, 60), &error), StoreResult::kOk);
  std::vector<QuotaState> after;
  ASSERT_EQ(store->apply_quota_usage({{"unlimited", 5}, {"gone", 5}, {"q", 1}}, 1700000000, &after,
                                     &error),
            StoreResult::kOk)
      << error;
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].key_hash, "q");
  EXPECT_EQ(after[0].quota_remaining, 9);
  SessionState got;
  ASSERT_EQ(store->get("unlimited", &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 7);
  EXPECT_EQ(store->get("gone", &got, &error), StoreResult::kNotFound);
  // An empty batch is fine.
  after.push_back(QuotaState{});
  EXPECT_EQ(store->apply_quota_usage({}, 1700000000, &after, &error), StoreResult::kOk);
  EXPECT_TRUE(after.empty());
}

TEST_F(SqliteKeyStoreTest, QuotaMergesRepeatedKeysAndIgnoresNegativeUse) {
  auto store = open_store();
  std::string error;
  ASSERT_EQ(store->put("q", quota_session(100, 0, 1700000000, 60), &error), StoreResult::kOk);
  std::vector<QuotaState> after;
  ASSERT_EQ(store->apply_quota_usage({{"q", 10}, {"q", -50}, {"q", 5}}, 1700000000, &after, &error),
            StoreResult::kOk)
      << error;
  // Renewed once (to 100), then 15 used.
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].quota_remaining, 85);
  EXPECT_EQ(after[0].quota_renews, 1700000060);
}

TEST_F(SqliteKeyStoreTest, QuotaManyKeysInOneBatch) {
  auto store = open_store();
  std::string error;
  const int64_t now = 1700000000;
  std::vector<QuotaUsage> usage;
  for (int i = 0; i < 2000; ++i) {
    std::string h = hash_key("key" + std::to_string(i));
    ASSERT_EQ(store->put(h, quota_session(1000, 1000, now + 60, 60), &error), StoreResult::kOk);
    usage.push_back(QuotaUsage{h, i % 1500});
  }
  usage.push_back(QuotaUsage{hash_key("not stored"), 1});
  std::vector<QuotaState> after;
  ASSERT_EQ(store->apply_quota_usage(usage, now, &after, &error), StoreResult::kOk) << error;
  // i == 0 and i == 1500 used nothing; the rest changed.
  ASSERT_EQ(after.size(), 1998u);
  for (const QuotaState& q : after) EXPECT_GE(q.quota_remaining, 0);
  SessionState got;
  ASSERT_EQ(store->get(hash_key("key999"), &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 1);
  ASSERT_EQ(store->get(hash_key("key1499"), &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 0);
  ASSERT_EQ(store->get(hash_key("key1501"), &got, &error), StoreResult::kOk);
  EXPECT_EQ(got.quota_remaining, 999);
}

TEST_F(SqliteKeyStoreTest, QuotaBatchIsOneTransaction) {
  auto store = open_store();
  std::string error;
  ASSERT_EQ(store->put("a", quota_session(10, 10, 2000000000, 60), &error), StoreResult::kOk);
  // Another connection holds the write lock: the batch fails whole, after busy_timeout.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  // The store waits its busy_timeout (5 s) before giving up.
  std::vector<QuotaState> after = {QuotaState{"stale", 1, 1}};
  EXPECT_EQ(store->apply_quota_usage({{"a", 1}}, 1700000000, &after, &error), StoreResult::kError);
  EXPECT_NE(error.find("locked"), std::string::npos) << error;
  EXPECT_TRUE(after.empty());
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  // The store still works and nothing was applied.
  SessionState got;
  ASSERT_EQ(store->get("a", &got, &error), StoreResult::kOk) << error;
  EXPECT_EQ(got.quota_remaining, 10);
  ASSERT_EQ(store->apply_quota_usage({{"a", 1}}, 1700000000, &after, &error), StoreResult::kOk)
      << error;
  EXPECT_EQ(after.size(), 1u);
}

TEST_F(SqliteKeyStoreTest, WaitsForAnotherWriter) {
  auto store = open_store();
  std::string error;
  ASSERT_EQ(store->put("a", quota_session(10, 10, 2000000000, 60), &error), StoreResult::kOk);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread release([other] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  std::vector<QuotaState> after;
  EXPECT_EQ(store->apply_quota_usage({{"a", 1}}, 1700000000, &after, &error), StoreResult::kOk)
      << error;
  EXPECT_EQ(store->put("b", SessionState{}, &error), StoreResult::kOk) << error;
  release.join();
  sqlite3_close(other);
  EXPECT_EQ(after.size(), 1u);
}

TEST_F(SqliteKeyStoreTest, NonexistentDirectory) {
  const std::string path = dir_ + "/no/such/dir/keys.db";
  SqliteKeyStore store(path);
  std::string error;
  EXPECT_FALSE(store.open(&error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  // Calls on a store that did not open fail cleanly.
  SessionState got;
  EXPECT_EQ(store.get("h", &got, &error), StoreResult::kError);
  EXPECT_EQ(store.put("h", got, &error), StoreResult::kError);
  EXPECT_EQ(store.remove("h", &error), StoreResult::kError);
  std::vector<std::string> hashes;
  EXPECT_EQ(store.list(&hashes, &error), StoreResult::kError);
  std::vector<QuotaState> after;
  EXPECT_EQ(store.apply_quota_usage({{"h", 1}}, 0, &after, &error), StoreResult::kError);
}

TEST_F(SqliteKeyStoreTest, UnwritableDirectory) {
  std::string path;
  if (geteuid() == 0) {
    // Root ignores directory modes; sysfs refuses new files even to root.
    if (!std::filesystem::is_directory("/sys/kernel")) GTEST_SKIP() << "no /sys";
    path = "/sys/kernel/ringway-keys.db";
  } else {
    const std::string ro = dir_ + "/ro";
    ASSERT_EQ(mkdir(ro.c_str(), 0500), 0);
    path = ro + "/keys.db";
  }
  SqliteKeyStore store(path);
  std::string error;
  EXPECT_FALSE(store.open(&error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("Permission denied"), std::string::npos) << error;
}

TEST_F(SqliteKeyStoreTest, PathIsADirectory) {
  SqliteKeyStore store(dir_);
  std::string error;
  EXPECT_FALSE(store.open(&error));
  EXPECT_NE(error.find(dir_), std::string::npos) << error;
}

TEST_F(SqliteKeyStoreTest, NotADatabase) {
  {
    std::ofstream out(path_);
    out << "this is not a SQLite database, just some text that is long enough to have a header"
        << std::string(4096, 'x');
  }
  SqliteKeyStore store(path_);
  std::string error;
  EXPECT_FALSE(store.open(&error));
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
}

TEST_F(SqliteKeyStoreTest, NewerSchemaVersionIsRefused) {
  { auto store = open_store(); }
  exec("UPDATE meta SET value = '2' WHERE name = 'schema_version'");
  SqliteKeyStore store(path_);
  std::string error;
  EXPECT_FALSE(store.open(&error));
  EXPECT_NE(error.find("schema_version 2 is newer"), std::string::npos) << error;
  // Refusing left the file as it was.
  EXPECT_EQ(query_one("SELECT value FROM meta WHERE name = 'schema_version'"), "2");
}

TEST_F(SqliteKeyStoreTest, GarbageSchemaVersionIsRefused) {
  { auto store = open_store(); }
  exec("UPDATE meta SET value = 'one' WHERE name = 'schema_version'");
  SqliteKeyStore store(path_);
  std::string error;
  EXPECT_FALSE(store.open(&error));
  EXPECT_NE(error.find("schema_version"), std::string::npos) << error;
}

TEST_F(SqliteKeyStoreTest, InMemoryStoreForTests) {
  SqliteKeyStore store(":memory:");
  std::string error;
  ASSERT_TRUE(store.open(&error)) << error;
  ASSERT_EQ(store.put("h", SessionState{}, &error), StoreResult::kOk) << error;
  SessionState got;
  EXPECT_EQ(store.get("h", &got, &error), StoreResult::kOk) << error;
}

}  // namespace
}  // namespace ringway
