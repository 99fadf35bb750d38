// KeyAuthFilter with its KeyResolver, RateLimiter and QuotaTracker, driven without a
// store: a fake backend records the lookups the shard would post and the test
// answers them (as the store thread would, later).

#include "auth/auth_filter.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filter/filter_runner.h"
#include "io/loop.h"
#include "tls/crypto.h"

namespace ringway {
namespace {

class FakeBackend : public KeyLookupBackend {
 public:
  bool post_lookup(KeyLookup&& lookup) override {
    if (refuse) return false;
    lookups.push_back(std::move(lookup));
    return true;
  }
  std::vector<KeyLookup> lookups;
  bool refuse = false;
};

class FakeRequest : public FilterCallbacks, public FilterRunner::Owner {
 public:
  explicit FakeRequest(const ApiConfig* api) : api_(api) {}
  // A request that goes away cancels what it waits for, as Exchange does.
  ~FakeRequest() { runner.cancel(); }
  RequestHead& request() override { return head; }
  const DownstreamInfo& downstream() const override { return info_; }
  const ApiConfig& api() const override { return *api_; }
  bool is_grpc() const override { return false; }
  void continue_request() override { runner.resume(); }
  void reply_locally(LocalReplyCause cause, std::string_view message,
                     const HeaderList* headers) override {
    runner.set_pending(nullptr);
    runner.finish();
    reply_cause = cause;
    reply = std::string(message);
    reply_headers = headers ? *headers : HeaderList{};
    ++replies;
  }
  void set_pending(PendingOperation* operation) override { runner.set_pending(operation); }
  RequestIdentity& identity() override { return identity_; }
  RequestBody request_body_state() const override { return body_state; }
  bool wait_for_request_body(uint64_t) override { return false; }
  std::string request_body() const override { return body; }
  void replace_request_body(std::string b) override { body = std::move(b); }
  void reply_with(ResponseHead& head, std::string b) override {
    runner.set_pending(nullptr);
    runner.finish();
    (void)head;
    (void)b;
    ++replies;
  }
  void continue_response() override { runner.resume_response(); }
  void on_held_response_passed() override { ++responses_passed; }
  RequestIdentity identity_;
  RequestBody body_state = RequestBody::kNone;
  std::string body;
  int responses_passed = 0;
  void on_filters_passed() override {
    ++passed;
    if (on_passed) on_passed();
  }

  std::string header(std::string_view name) const {
    const Header* h = find_header(head.headers, name);
    return h ? h->value.str() : "<none>";
  }

  FilterRunner runner;
  RequestHead head;
  DownstreamInfo info_;
  const ApiConfig* api_;
  LocalReplyCause reply_cause = LocalReplyCause::kCount;
  std::string reply;
  HeaderList reply_headers;
  int replies = 0;
  int passed = 0;
  std::function<void()> on_passed;  // runs when the request got through
};

std::shared_ptr<const SessionState> session(std::vector<std::string> apis = {}) {
  auto s = std::make_shared<SessionState>();
  for (auto& a : apis) s->access_rights[a] = AccessDefinition{a, a, {"Default"}};
  return s;
}

class AuthFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(loop_.init(LoopLimits{64, 16, 4096}, &error)) << error;
    store_.cache_entries = 16;
    store_.cache_ttl_ms = 10000;
    store_.max_pending_lookups = 2;
    store_.lookup_timeout_ms = 100;
    resolver_ = std::make_unique<KeyResolver>(&loop_, store_, &backend_);
    rates_ = std::make_unique<RateLimiter>(64, 1);
    quotas_ = std::make_unique<QuotaTracker>(64);
    shard_.loop = &loop_;
    shard_.resolver = resolver_.get();
    shard_.rate_limiter = rates_.get();
    shard_.quotas = quotas_.get();
    api_.name = "orders";
    api_.use_standard_auth = true;
    chain_.add(std::make_unique<KeyAuthFilter>(&shard_, KeyAuthMode::kToken, api_));
    basic_api_.name = "ledger";
    basic_api_.use_basic_auth = true;
    basic_chain_.add(std::make_unique<KeyAuthFilter>(&shard_, KeyAuthMode::kBasic, basic_api_));
  }

  std::unique_ptr<FakeRequest> start(const FilterChain& chain, const ApiConfig& api,
                                     std::string authorization) {
    auto r = std::make_unique<FakeRequest>(&api);
    r->head.path = "/x";
    if (!authorization.empty()) r->head.headers.push_back({"authorization", authorization});
    r->runner.start(&chain, r.get(), r.get());
    return r;
  }

  // The store's answer to lookup |i|.
  void answer(size_t i, LookupOutcome outcome, std::shared_ptr<const SessionState> s = {}) {
    KeyLookupResult result;
    result.id = backend_.lookups.at(i).id;
    result.outcome = outcome;
    result.session = std::move(s);
    resolver_->on_result(result);
  }

  Loop loop_;
  StoreConfig store_;
  FakeBackend backend_;
  std::unique_ptr<KeyResolver> resolver_;
  std::unique_ptr<RateLimiter> rates_;
  std::unique_ptr<QuotaTracker> quotas_;
  AuthShard shard_;
  ApiConfig api_, basic_api_;
  FilterChain chain_, basic_chain_;
};

TEST_F(AuthFilterTest, MissingTokenIs401WithTyksMessage) {
  auto r = start(chain_, api_, "");
  EXPECT_EQ(r->reply_cause, LocalReplyCause::Unauthenticated);
  EXPECT_EQ(r->reply, "Authorization field missing");
  EXPECT_TRUE(r->reply_headers.empty());  // no WWW-Authenticate for tokens
  auto bearer_only = start(chain_, api_, "Bearer   ");
  EXPECT_EQ(bearer_only->reply, "Authorization field missing");
  EXPECT_TRUE(backend_.lookups.empty());
}

TEST_F(AuthFilterTest, MissAsksTheStoreOnceThenTheCacheDecides) {
  auto first = start(chain_, api_, "Bearer k1");
  ASSERT_EQ(backend_.lookups.size(), 1u);
  EXPECT_EQ(backend_.lookups[0].subject, key_digest("k1"));
  EXPECT_FALSE(backend_.lookups[0].basic);
  EXPECT_EQ(first->passed, 0);  // waiting
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(first->passed, 1);
  EXPECT_EQ(first->header("authorization"), "<none>");  // stripped
  // Bare key, any case of Bearer: the same key, from the cache.
  for (const char* value : {"k1", "bearer k1", "BEARER k1"}) {
    auto again = start(chain_, api_, value);
    EXPECT_EQ(again->passed, 1) << value;
  }
  EXPECT_EQ(backend_.lookups.size(), 1u);
  EXPECT_EQ(resolver_->cache().stats().hits, 3u);
}

TEST_F(AuthFilterTest, StripAuthDataFalseKeepsTheHeader) {
  api_.strip_auth_data = false;
  auto r = start(chain_, api_, "k1");
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(r->passed, 1);
  EXPECT_EQ(r->header("authorization"), "k1");
}

TEST_F(AuthFilterTest, UnknownKeyIs403AndCachedNegative) {
  auto r = start(chain_, api_, "nope");
  answer(0, LookupOutcome::kNotFound);
  EXPECT_EQ(r->reply_cause, LocalReplyCause::KeyRejected);
  EXPECT_EQ(r->reply, "Access to this API has been disallowed");
  auto again = start(chain_, api_, "nope");
  EXPECT_EQ(again->reply_cause, LocalReplyCause::KeyRejected);
  EXPECT_EQ(backend_.lookups.size(), 1u);
}

TEST_F(AuthFilterTest, SessionStatesInTyksOrder) {
  auto inactive = std::make_shared<SessionState>();
  inactive->is_inactive = true;
  inactive->expires = 1;  // expired too: inactive is reported first, as Tyk does
  auto r = start(chain_, api_, "a");
  answer(0, LookupOutcome::kFound, inactive);
  EXPECT_EQ(r->reply_cause, LocalReplyCause::Forbidden);
  EXPECT_EQ(r->reply, "Key is inactive, please renew");

  auto expired = std::make_shared<SessionState>();
  expired->expires = 1000;  // 1970
  r = start(chain_, api_, "b");
  answer(1, LookupOutcome::kFound, expired);
  EXPECT_EQ(r->reply_cause, LocalReplyCause::Unauthenticated);
  EXPECT_EQ(r->reply, "Key has expired, please renew");

  r = start(chain_, api_, "c");
  answer(2, LookupOutcome::kFound, session({"other-api"}));
  EXPECT_EQ(r->reply_cause, LocalReplyCause::Forbidden);
  EXPECT_EQ(r->reply, "Access to this API has been disallowed");

  r = start(chain_, api_, "d");
  answer(3, LookupOutcome::kFound, session({"other-api", "orders"}));
  EXPECT_EQ(r->passed, 1);
}

TEST_F(AuthFilterTest, RateLimitAnswers429WithTyksHeaders) {
  auto limited = std::make_shared<SessionState>();
  limited->rate = 2;
  limited->per = 60;
  auto r = start(chain_, api_, "fast");
  answer(0, LookupOutcome::kFound, limited);
  EXPECT_EQ(r->passed, 1);
  EXPECT_EQ(start(chain_, api_, "fast")->passed, 1);
  auto refused = start(chain_, api_, "fast");
  EXPECT_EQ(refused->reply_cause, LocalReplyCause::RateLimited);
  EXPECT_EQ(refused->reply, "Rate limit exceeded");
  ASSERT_EQ(refused->reply_headers.size(), 3u);
  EXPECT_EQ(refused->reply_headers[0].name.str(), "x-ratelimit-limit");
  EXPECT_EQ(refused->reply_headers[0].value.str(), "2");
  EXPECT_EQ(refused->reply_headers[1].value.str(), "0");
  EXPECT_EQ(refused->reply_headers[2].name.str(), "x-ratelimit-reset");
  EXPECT_GE(std::stoi(refused->reply_headers[2].value.str()), 1);
}

TEST_F(AuthFilterTest, QuotaCountsAndRefusesThenTheStoresFigureApplies) {
  auto quota = std::make_shared<SessionState>();
  quota->quota_max = 2;
  quota->quota_remaining = 2;
  quota->quota_renewal_rate = 3600;
  quota->quota_renews = time(nullptr) + 3600;
  auto r = start(chain_, api_, "q");
  answer(0, LookupOutcome::kFound, quota);
  EXPECT_EQ(r->passed, 1);
  EXPECT_EQ(start(chain_, api_, "q")->passed, 1);
  auto over = start(chain_, api_, "q");
  EXPECT_EQ(over->reply_cause, LocalReplyCause::QuotaExceeded);
  EXPECT_EQ(over->reply, "Quota exceeded");
  std::vector<QuotaUsage> report = quotas_->take_report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].key_hash, hash_key("q"));
  EXPECT_EQ(report[0].used, 2);
  EXPECT_TRUE(quotas_->take_report().empty());  // counted once
  // The store reset the quota (a key API write): the shard follows its figure.
  quotas_->on_store_state(QuotaState{hash_key("q"), 5, quota->quota_renews});
  EXPECT_EQ(start(chain_, api_, "q")->passed, 1);
}

TEST_F(AuthFilterTest, RequestsForOneCredentialShareOneLookup) {
  auto a = start(chain_, api_, "shared");
  auto b = start(chain_, api_, "Bearer shared");
  EXPECT_EQ(backend_.lookups.size(), 1u);
  EXPECT_EQ(resolver_->stats().lookups_joined, 1u);
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(a->passed, 1);
  EXPECT_EQ(b->passed, 1);
  EXPECT_EQ(resolver_->pending(), 0u);
}

TEST_F(AuthFilterTest, AClientThatLeavesIsNotCalledBackButTheAnswerIsCached) {
  auto a = start(chain_, api_, "gone");
  a->runner.finish();  // the client went away: the runner cancels the wait
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(a->passed, 0);
  EXPECT_EQ(a->replies, 0);
  EXPECT_EQ(start(chain_, api_, "gone")->passed, 1);  // from the cache
  EXPECT_EQ(backend_.lookups.size(), 1u);
}

TEST_F(AuthFilterTest, AWaiterEndedByAnEarlierWaitersCallbackIsNotCalled) {
  auto a = start(chain_, api_, "same");
  auto b = start(chain_, api_, "same");
  auto c = start(chain_, api_, "same");
  // Resuming a ends b (as a request's progress may end another's connection).
  a->on_passed = [&b] { b->runner.finish(); };
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(a->passed, 1);
  EXPECT_EQ(b->passed, 0);
  EXPECT_EQ(b->replies, 0);
  EXPECT_EQ(c->passed, 1);
}

TEST_F(AuthFilterTest, CountsOfAChangedKeyAreStillReported) {
  auto quota = std::make_shared<SessionState>();
  quota->quota_max = 10;
  quota->quota_remaining = 10;
  quota->quota_renewal_rate = 3600;
  quota->quota_renews = time(nullptr) + 3600;
  auto r = start(chain_, api_, "q2");
  answer(0, LookupOutcome::kFound, quota);
  EXPECT_EQ(start(chain_, api_, "q2")->passed, 1);
  quotas_->forget(key_digest("q2"));  // the key was written meanwhile
  std::vector<QuotaUsage> report = quotas_->take_report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].used, 2);
  EXPECT_EQ(quotas_->take_report().size(), 0u);
  EXPECT_EQ(quotas_->size(), 0u);  // then forgotten
}

TEST_F(AuthFilterTest, TokensAreIndexedBySaltedDigests) {
  random_bytes(shard_.credential_salt.data(), shard_.credential_salt.size());
  auto r = start(chain_, api_, "salted");
  ASSERT_EQ(backend_.lookups.size(), 1u);
  EXPECT_EQ(backend_.lookups[0].subject, key_digest("salted"));  // the store's key
  answer(0, LookupOutcome::kFound, session());
  EXPECT_NE(resolver_->cache().find(token_credential_digest(shard_.credential_salt, "salted"),
                                    loop_.now_ms()),
            nullptr);
  EXPECT_EQ(resolver_->cache().find(key_digest("salted"), loop_.now_ms()), nullptr);
}

TEST_F(AuthFilterTest, AnInvalidationWhileALookupIsOutAsksAgain) {
  auto r = start(chain_, api_, "changing");
  resolver_->invalidate(key_digest("changing"));  // revoked while the answer travels
  answer(0, LookupOutcome::kFound, session());    // the old answer: not used
  EXPECT_EQ(r->passed, 0);
  ASSERT_EQ(backend_.lookups.size(), 2u);
  EXPECT_EQ(resolver_->stats().lookups_repeated, 1u);
  answer(1, LookupOutcome::kNotFound);
  EXPECT_EQ(r->reply_cause, LocalReplyCause::KeyRejected);
  // A late duplicate of the first answer is ignored.
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(r->replies, 1);
}

TEST_F(AuthFilterTest, InvalidationDropsCachedAnswers) {
  auto r = start(chain_, api_, "rev");
  answer(0, LookupOutcome::kFound, session());
  EXPECT_EQ(r->passed, 1);
  resolver_->invalidate(key_digest("rev"));
  auto after = start(chain_, api_, "rev");
  EXPECT_EQ(after->passed, 0);  // asks the store again
  EXPECT_EQ(backend_.lookups.size(), 2u);
}

TEST_F(AuthFilterTest, BoundsAnswer503) {
  auto a = start(chain_, api_, "one");
  auto b = start(chain_, api_, "two");
  auto c = start(chain_, api_, "three");  // max_pending_lookups = 2
  EXPECT_EQ(c->reply_cause, LocalReplyCause::AuthUnavailable);
  EXPECT_EQ(c->reply, "too many key lookups in progress");
  answer(0, LookupOutcome::kUnavailable);
  EXPECT_EQ(a->reply_cause, LocalReplyCause::AuthUnavailable);
  // Nothing is cached from an unavailable store.
  backend_.refuse = true;  // the store's mailbox is full
  auto d = start(chain_, api_, "one");
  EXPECT_EQ(d->reply_cause, LocalReplyCause::AuthUnavailable);
  EXPECT_EQ(d->reply, "the key store cannot be reached");
  // lookup_timeout_ms: the waiting request gets 503, a late answer is dropped.
  loop_.timers().advance(loop_.now_ms() + store_.lookup_timeout_ms + 100);
  EXPECT_EQ(b->reply_cause, LocalReplyCause::AuthUnavailable);
  EXPECT_EQ(b->reply, "the key store did not answer in time");
  answer(1, LookupOutcome::kFound, session());
  EXPECT_EQ(b->passed, 0);
  EXPECT_EQ(resolver_->pending(), 0u);
}

TEST_F(AuthFilterTest, BasicAuthRepliesAsTyk) {
  auto missing = start(basic_chain_, basic_api_, "");
  EXPECT_EQ(missing->reply_cause, LocalReplyCause::Unauthenticated);
  ASSERT_EQ(missing->reply_headers.size(), 1u);
  EXPECT_EQ(missing->reply_headers[0].name.str(), "www-authenticate");
  EXPECT_EQ(missing->reply_headers[0].value.str(), "Basic realm=\"ledger\"");

  auto malformed = start(basic_chain_, basic_api_, "Basic bm9jb2xvbg==");  // "nocolon"
  EXPECT_EQ(malformed->reply_cause, LocalReplyCause::MalformedCredentials);
  EXPECT_EQ(malformed->reply,
            "Attempted access with malformed header, values not in basic auth format");

  auto wrong = start(basic_chain_, basic_api_, "Basic YWxpY2U6YmFk");  // alice:bad
  ASSERT_EQ(backend_.lookups.size(), 1u);
  EXPECT_TRUE(backend_.lookups[0].basic);
  EXPECT_EQ(backend_.lookups[0].password, "bad");
  EXPECT_EQ(backend_.lookups[0].subject, key_digest("alice"));
  answer(0, LookupOutcome::kWrongPassword);
  EXPECT_EQ(wrong->reply_cause, LocalReplyCause::Unauthenticated);
  EXPECT_EQ(wrong->reply, "User not authorised");
  EXPECT_EQ(wrong->reply_headers.size(), 1u);

  auto right = start(basic_chain_, basic_api_, "Basic YWxpY2U6cGFzcw==");  // alice:pass
  ASSERT_EQ(backend_.lookups.size(), 2u);  // another password: another credential
  answer(1, LookupOutcome::kFound, session());
  EXPECT_EQ(right->passed, 1);
  // Both answers are cached under their own (user, password); a revoke of the user
  // drops both.
  EXPECT_EQ(start(basic_chain_, basic_api_, "Basic YWxpY2U6YmFk")->reply, "User not authorised");
  EXPECT_EQ(start(basic_chain_, basic_api_, "Basic YWxpY2U6cGFzcw==")->passed, 1);
  EXPECT_EQ(resolver_->cache().invalidate_subject(key_digest("alice")), 2u);
}

}  // namespace
}  // namespace ringway
