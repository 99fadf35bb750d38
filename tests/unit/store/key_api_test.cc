// Tyk's key API operations against a real SQLite store in a temporary directory.

#include "store/key_api.h"

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/password.h"
#include "store/sqlite_key_store.h"

namespace ringway {
namespace {

using nlohmann::json;

class KeyApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ringway-key-api-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<SqliteKeyStore>(dir_ + "/keys.db");
    std::string error;
    ASSERT_TRUE(store_->open(&error)) << error;
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) unlink((dir_ + "/keys.db" + suffix).c_str());
    rmdir(dir_.c_str());
  }

  KeyApiResponse run(KeyApiOp op, std::string key, const std::string& body = "{}",
                     bool hashed = false, bool suppress_reset = false) {
    KeyApiRequest r;
    r.id = 7;
    r.op = op;
    r.key = std::move(key);
    r.hashed = hashed;
    r.suppress_reset = suppress_reset;
    std::string error;
    EXPECT_TRUE(parse_session_json(body, &r.session, &error)) << error;
    KeyApiResponse response = run_key_api(*store_, r, kNow);
    EXPECT_EQ(response.id, 7u);
    return response;
  }

  static constexpr int64_t kNow = 1700000000;
  std::string dir_;
  std::unique_ptr<SqliteKeyStore> store_;
};

TEST_F(KeyApiTest, CreateGeneratesAKeyAndAnswersAsTyk) {
  KeyApiResponse r = run(KeyApiOp::kCreate, "", R"({"org_id": "org1", "rate": 5, "per": 1})");
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  std::string key = body["key"];
  EXPECT_EQ(key.substr(0, 4), "org1");
  EXPECT_EQ(key.size(), 4u + 32u);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["action"], "added");
  EXPECT_EQ(body["key_hash"], hash_key(key));
  EXPECT_EQ(body["key_hashed"], hash_key(key));
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.subject, key_digest(key));
  // Stored by its hash only.
  SessionState stored;
  std::string error;
  ASSERT_EQ(store_->get(hash_key(key), &stored, &error), StoreResult::kOk) << error;
  EXPECT_EQ(stored.rate, 5);
  EXPECT_EQ(stored.date_created, kNow);
  EXPECT_EQ(stored.last_updated, kNow);
  EXPECT_EQ(store_->get(key, &stored, &error), StoreResult::kNotFound);
}

TEST_F(KeyApiTest, NamedKeyGetByNameAndByHashUpdateDeleteList) {
  ASSERT_EQ(run(KeyApiOp::kAdd, "alpha", R"({"alias": "a", "tags": ["t"]})").status, 200);
  KeyApiResponse got = run(KeyApiOp::kGet, "alpha");
  ASSERT_EQ(got.status, 200);
  EXPECT_FALSE(got.changed);
  EXPECT_EQ(json::parse(got.body)["alias"], "a");
  KeyApiResponse by_hash = run(KeyApiOp::kGet, hash_key("alpha"), "{}", true);
  EXPECT_EQ(by_hash.status, 200);
  EXPECT_EQ(json::parse(by_hash.body)["alias"], "a");
  EXPECT_EQ(run(KeyApiOp::kGet, "zz-not-hex", "{}", true).status, 400);

  KeyApiResponse updated = run(KeyApiOp::kUpdate, "alpha", R"({"alias": "b"})");
  ASSERT_EQ(updated.status, 200);
  EXPECT_EQ(json::parse(updated.body)["action"], "modified");
  EXPECT_TRUE(updated.changed);
  EXPECT_EQ(json::parse(run(KeyApiOp::kGet, "alpha").body)["alias"], "b");

  ASSERT_EQ(run(KeyApiOp::kAdd, "beta").status, 200);
  KeyApiResponse list = run(KeyApiOp::kList, "");
  ASSERT_EQ(list.status, 200);
  std::vector<std::string> hashes = json::parse(list.body)["keys"];
  std::vector<std::string> expected{hash_key("alpha"), hash_key("beta")};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(hashes, expected);

  KeyApiResponse deleted = run(KeyApiOp::kDelete, "alpha");
  ASSERT_EQ(deleted.status, 200);
  EXPECT_EQ(json::parse(deleted.body),
            json::parse(R"({"key": "alpha", "status": "ok", "action": "deleted"})"));
  EXPECT_TRUE(deleted.changed);
  EXPECT_EQ(deleted.subject, key_digest("alpha"));
}

TEST_F(KeyApiTest, UnknownKeysAre404AndChangeNothing) {
  for (KeyApiOp op : {KeyApiOp::kGet, KeyApiOp::kUpdate, KeyApiOp::kDelete}) {
    KeyApiResponse r = run(op, "ghost");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(json::parse(r.body),
              json::parse(R"({"status": "error", "message": "Key not found"})"));
    EXPECT_FALSE(r.changed);
  }
  EXPECT_EQ(json::parse(run(KeyApiOp::kList, "").body)["keys"].size(), 0u);
}

TEST_F(KeyApiTest, QuotaStartsAfreshOnWriteUnlessSuppressed) {
  const char* body = R"({"quota_max": 10, "quota_remaining": 3, "quota_renewal_rate": 60})";
  ASSERT_EQ(run(KeyApiOp::kAdd, "q", body).status, 200);
  json got = json::parse(run(KeyApiOp::kGet, "q").body);
  EXPECT_EQ(got["quota_remaining"], 10);
  EXPECT_EQ(got["quota_renews"], kNow + 60);
  // The store counted 4 requests meanwhile.
  std::vector<QuotaState> after;
  std::string error;
  ASSERT_EQ(store_->apply_quota_usage({{hash_key("q"), 4}}, kNow, &after, &error),
            StoreResult::kOk)
      << error;
  // suppress_reset keeps the live counters, whatever the body says (as Tyk).
  ASSERT_EQ(run(KeyApiOp::kUpdate, "q", body, false, /*suppress_reset=*/true).status, 200);
  got = json::parse(run(KeyApiOp::kGet, "q").body);
  EXPECT_EQ(got["quota_remaining"], 6);
  EXPECT_EQ(got["quota_renews"], kNow + 60);
  // Without it, a write starts the quota afresh.
  ASSERT_EQ(run(KeyApiOp::kUpdate, "q", body).status, 200);
  EXPECT_EQ(json::parse(run(KeyApiOp::kGet, "q").body)["quota_remaining"], 10);
}

TEST_F(KeyApiTest, PasswordsMustArriveHashed) {
  KeyApiRequest clear;
  clear.op = KeyApiOp::kAdd;
  clear.key = "alice";
  clear.session.basic_auth_data.password = "secret";
  EXPECT_TRUE(key_api_needs_password_hash(clear));
  EXPECT_EQ(run_key_api(*store_, clear, kNow).status, 500);  // the caller forgot to hash

  KeyApiRequest get = clear;
  get.op = KeyApiOp::kGet;
  EXPECT_FALSE(key_api_needs_password_hash(get));

  // A declared bcrypt hash must be one (an htpasswd import, say).
  EXPECT_EQ(run(KeyApiOp::kAdd, "bob",
                R"({"basic_auth_data": {"password": "plain", "hash_type": "bcrypt"}})")
                .status,
            400);
  std::string error;
  std::string hash = bcrypt_hash("pw", 4, &error);
  ASSERT_FALSE(hash.empty()) << error;
  KeyApiResponse ok = run(KeyApiOp::kAdd, "bob",
                          R"({"basic_auth_data": {"password": ")" + hash +
                              R"(", "hash_type": "bcrypt"}})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  json got = json::parse(run(KeyApiOp::kGet, "bob").body);
  EXPECT_EQ(got["basic_auth_data"]["password"], hash);
  EXPECT_EQ(got["basic_auth_data"]["hash_type"], "bcrypt");
}

TEST_F(KeyApiTest, EmptyKeyNameIsRefused) {
  EXPECT_EQ(run(KeyApiOp::kAdd, "").status, 400);
  EXPECT_EQ(json::parse(run(KeyApiOp::kList, "").body)["keys"].size(), 0u);
}

}  // namespace
}  // namespace ringway
