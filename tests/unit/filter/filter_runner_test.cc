#include "filter/filter_runner.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ringway {
namespace {

// The request side of the runner, as the pipeline's Exchange would implement it,
// recording what happened.
class FakeRequest : public FilterCallbacks, public FilterRunner::Owner {
 public:
  FakeRequest() { info_.client_address = "127.0.0.1"; }

  RequestHead& request() override { return head_; }
  const DownstreamInfo& downstream() const override { return info_; }
  const ApiConfig& api() const override { return api_; }
  bool is_grpc() const override { return false; }
  void continue_request() override { runner.resume(); }
  void reply_locally(LocalReplyCause cause, std::string_view message,
                     const HeaderList* = nullptr) override {
    runner.set_pending(nullptr);
    runner.finish();
    replies.push_back(std::string(local_reply_flag(cause)) + " " + std::string(message));
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
    replies.push_back("reply " + std::to_string(head.status) + " " + b);
  }
  void continue_response() override { runner.resume_response(); }
  void on_held_response_passed() override { ++responses_passed; }
  RequestIdentity identity_;
  RequestBody body_state = RequestBody::kNone;
  std::string body;
  int responses_passed = 0;
  void on_filters_passed() override { ++passed; }

  FilterRunner runner;
  RequestHead head_;
  DownstreamInfo info_;
  ApiConfig api_;
  std::vector<std::string> replies;
  int passed = 0;
};

// Adds a header naming itself, then continues.
class TagFilter : public RequestFilter {
 public:
  explicit TagFilter(std::string tag) : tag_(std::move(tag)) {}
  const char* name() const override { return "tag"; }
  FilterStatus on_request(FilterCallbacks& request) override {
    request.request().headers.push_back({"x-tag", tag_});
    return FilterStatus::kContinue;
  }

 private:
  std::string tag_;
};

// Stops and waits for an answer delivered by the test (a store lookup, a plugin).
class WaitingFilter : public RequestFilter, public PendingOperation {
 public:
  const char* name() const override { return "waiting"; }
  FilterStatus on_request(FilterCallbacks& request) override {
    waiting_for = &request;
    ++calls;
    request.set_pending(this);
    return FilterStatus::kStop;
  }
  void cancel() override {
    ++cancels;
    waiting_for = nullptr;
  }
  void answer_continue() {
    FilterCallbacks* r = waiting_for;
    waiting_for = nullptr;
    r->continue_request();
  }
  void answer_deny() {
    FilterCallbacks* r = waiting_for;
    waiting_for = nullptr;
    r->reply_locally(LocalReplyCause::Forbidden, "denied");
  }
  FilterCallbacks* waiting_for = nullptr;
  int calls = 0;
  int cancels = 0;
};

class DenyFilter : public RequestFilter {
 public:
  const char* name() const override { return "deny"; }
  FilterStatus on_request(FilterCallbacks& request) override {
    request.reply_locally(LocalReplyCause::Unauthenticated, "no credentials");
    return FilterStatus::kStop;
  }
};

// Answers at once from inside on_request (a cache hit) though it returns kStop.
class SyncContinueFilter : public RequestFilter {
 public:
  const char* name() const override { return "sync"; }
  FilterStatus on_request(FilterCallbacks& request) override {
    request.continue_request();
    return FilterStatus::kStop;
  }
};

class ResponseTagFilter : public RequestFilter {
 public:
  explicit ResponseTagFilter(std::string tag) : tag_(std::move(tag)) {}
  const char* name() const override { return "response"; }
  FilterStatus on_request(FilterCallbacks&) override { return FilterStatus::kContinue; }
  bool wants_response() const override { return true; }
  void on_response_head(FilterCallbacks&, ResponseHead& head) override {
    head.headers.push_back({"x-order", tag_});
  }
  void on_response_trailers(FilterCallbacks&, HeaderList& trailers) override {
    trailers.push_back({"x-order", tag_});
  }

 private:
  std::string tag_;
};

std::vector<std::string> tags(const HeaderList& headers) {
  std::vector<std::string> out;
  for (const Header& h : headers) out.push_back(std::string(h.value));
  return out;
}

TEST(FilterRunner, EmptyChainPassesAtOnceWithoutFilterCalls) {
  FakeRequest r;
  FilterChain chain;
  r.runner.start(&chain, &r, &r);
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(r.runner.calls(), 0u);
  EXPECT_TRUE(r.runner.passed());
}

TEST(FilterRunner, ContinueRunsEveryFilterInOrder) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<TagFilter>("a"));
  chain.add(std::make_unique<TagFilter>("b"));
  chain.add(std::make_unique<TagFilter>("c"));
  r.runner.start(&chain, &r, &r);
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(tags(r.head_.headers), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.runner.calls(), 3u);
}

TEST(FilterRunner, StopWaitsAndResumeRunsTheRest) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<TagFilter>("a"));
  auto waiting = std::make_unique<WaitingFilter>();
  WaitingFilter* w = waiting.get();
  chain.add(std::move(waiting));
  chain.add(std::make_unique<TagFilter>("c"));
  r.runner.start(&chain, &r, &r);
  EXPECT_TRUE(r.runner.waiting());
  EXPECT_EQ(r.passed, 0);
  EXPECT_EQ(tags(r.head_.headers), (std::vector<std::string>{"a"}));
  w->answer_continue();  // later, on the same thread
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(tags(r.head_.headers), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(w->cancels, 0);
  EXPECT_EQ(w->calls, 1);
}

TEST(FilterRunner, LocalReplyFromTheMiddleStopsTheChain) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<TagFilter>("a"));
  chain.add(std::make_unique<DenyFilter>());
  chain.add(std::make_unique<TagFilter>("never"));
  r.runner.start(&chain, &r, &r);
  EXPECT_EQ(r.passed, 0);
  EXPECT_EQ(r.replies, (std::vector<std::string>{"UA no credentials"}));
  EXPECT_EQ(tags(r.head_.headers), (std::vector<std::string>{"a"}));
  EXPECT_FALSE(r.runner.waiting());
}

TEST(FilterRunner, LocalReplyAfterWaitingDoesNotCancelTheAnswer) {
  FakeRequest r;
  FilterChain chain;
  auto waiting = std::make_unique<WaitingFilter>();
  WaitingFilter* w = waiting.get();
  chain.add(std::move(waiting));
  chain.add(std::make_unique<TagFilter>("never"));
  r.runner.start(&chain, &r, &r);
  w->answer_deny();
  EXPECT_EQ(r.replies, (std::vector<std::string>{"PD denied"}));
  EXPECT_EQ(r.passed, 0);
  EXPECT_EQ(w->cancels, 0);
  EXPECT_TRUE(r.head_.headers.empty());
}

TEST(FilterRunner, CancelWhileWaitingCancelsTheOperationAndNeverResumes) {
  FakeRequest r;
  FilterChain chain;
  auto waiting = std::make_unique<WaitingFilter>();
  WaitingFilter* w = waiting.get();
  chain.add(std::move(waiting));
  chain.add(std::make_unique<TagFilter>("never"));
  r.runner.start(&chain, &r, &r);
  FilterCallbacks* stale = w->waiting_for;
  r.runner.cancel();  // the client went away
  EXPECT_EQ(w->cancels, 1);
  // A late answer (the operation raced the cancel) changes nothing.
  stale->continue_request();
  EXPECT_EQ(r.passed, 0);
  EXPECT_TRUE(r.head_.headers.empty());
  r.runner.cancel();
  EXPECT_EQ(w->cancels, 1);  // cancelled once
}

TEST(FilterRunner, AnswerFromElsewhereWhileWaitingCancelsTheOperation) {
  // e.g. the gRPC deadline passes while a plugin call is in flight.
  FakeRequest r;
  FilterChain chain;
  auto waiting = std::make_unique<WaitingFilter>();
  WaitingFilter* w = waiting.get();
  chain.add(std::move(waiting));
  r.runner.start(&chain, &r, &r);
  r.runner.finish();
  EXPECT_EQ(w->cancels, 1);
  EXPECT_EQ(r.passed, 0);
}

// Registers an operation and then goes on at once (it was answered synchronously).
class RegistersThenContinues : public RequestFilter, public PendingOperation {
 public:
  const char* name() const override { return "registers"; }
  FilterStatus on_request(FilterCallbacks& request) override {
    request.set_pending(this);
    return FilterStatus::kContinue;
  }
  void cancel() override { ++cancels; }
  int cancels = 0;
};

TEST(FilterRunner, AnOperationLeftRegisteredByAFilterThatContinuedIsNotCancelledLater) {
  FakeRequest r;
  FilterChain chain;
  auto first = std::make_unique<RegistersThenContinues>();
  RegistersThenContinues* f = first.get();
  chain.add(std::move(first));
  chain.add(std::make_unique<WaitingFilter>());
  r.runner.start(&chain, &r, &r);
  ASSERT_TRUE(r.runner.waiting());
  r.runner.cancel();  // cancels the second filter's operation, not the first's
  EXPECT_EQ(f->cancels, 0);
}

TEST(FilterRunner, ContinueFromInsideOnRequestActsAsContinue) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<SyncContinueFilter>());
  chain.add(std::make_unique<TagFilter>("b"));
  r.runner.start(&chain, &r, &r);
  EXPECT_EQ(r.passed, 1);
  EXPECT_EQ(tags(r.head_.headers), (std::vector<std::string>{"b"}));
  EXPECT_FALSE(r.runner.waiting());
}

TEST(FilterRunner, ResponsePassesBackThroughFiltersThatRanInReverse) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<ResponseTagFilter>("first"));
  chain.add(std::make_unique<TagFilter>("x"));
  chain.add(std::make_unique<ResponseTagFilter>("second"));
  EXPECT_TRUE(chain.has_response_filters());
  r.runner.start(&chain, &r, &r);
  ASSERT_TRUE(r.runner.wants_response());
  ResponseHead head;
  r.runner.on_response_head(head);
  EXPECT_EQ(tags(head.headers), (std::vector<std::string>{"second", "first"}));
  HeaderList trailers;
  r.runner.on_response_trailers(trailers);
  EXPECT_EQ(tags(trailers), (std::vector<std::string>{"second", "first"}));
}

TEST(FilterRunner, ResponseSkipsFiltersThatDidNotRun) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<ResponseTagFilter>("ran"));
  chain.add(std::make_unique<DenyFilter>());
  chain.add(std::make_unique<ResponseTagFilter>("never-ran"));
  r.runner.start(&chain, &r, &r);
  ResponseHead head;
  r.runner.on_response_head(head);
  EXPECT_EQ(tags(head.headers), (std::vector<std::string>{"ran"}));
}

TEST(FilterRunner, ChainWithoutResponseFiltersSkipsTheResponsePath) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<TagFilter>("a"));
  r.runner.start(&chain, &r, &r);
  EXPECT_FALSE(r.runner.wants_response());
}

// Waits for the body the first time; the second on_request (the rerun) continues.
class BodyFilter : public RequestFilter {
 public:
  const char* name() const override { return "body"; }
  FilterStatus on_request(FilterCallbacks& request) override {
    ++calls;
    if (calls == 1) return FilterStatus::kStop;  // as after wait_for_request_body() true
    seen = request.request_body();
    return FilterStatus::kContinue;
  }
  int calls = 0;
  std::string seen;
};

TEST(FilterRunner, RerunCallsTheWaitingFilterAgainThenTheRest) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<TagFilter>("before"));
  auto* body = new BodyFilter;
  chain.add(std::unique_ptr<RequestFilter>(body));
  chain.add(std::make_unique<TagFilter>("after"));
  r.runner.start(&chain, &r, &r);
  EXPECT_TRUE(r.runner.waiting());
  EXPECT_EQ(r.passed, 0);
  r.body = "the body";
  r.runner.rerun();
  EXPECT_EQ(body->calls, 2);
  EXPECT_EQ(body->seen, "the body");
  EXPECT_EQ(r.passed, 1);
  // The filter before it ran once, the one after once.
  EXPECT_EQ(tags(r.head_.headers), (std::vector<std::string>{"before", "after"}));
}

// Holds the response: records it, stops, and continues when the test says.
class HeldResponseFilter : public RequestFilter, public PendingOperation {
 public:
  explicit HeldResponseFilter(std::string tag, bool wait) : tag_(std::move(tag)), wait_(wait) {}
  const char* name() const override { return "held"; }
  FilterStatus on_request(FilterCallbacks&) override { return FilterStatus::kContinue; }
  bool wants_held_response() const override { return true; }
  uint64_t held_body_limit() const override { return 100; }
  FilterStatus on_held_response(FilterCallbacks& request, HeldResponse& response) override {
    response.head.headers.push_back({"x-order", tag_});
    if (!wait_) return FilterStatus::kContinue;
    waiting_for = &request;
    request.set_pending(this);
    return FilterStatus::kStop;
  }
  void cancel() override { ++cancels; }
  FilterCallbacks* waiting_for = nullptr;
  int cancels = 0;

 private:
  std::string tag_;
  bool wait_;
};

TEST(FilterRunner, HeldResponseRunsInChainOrderAndWaits) {
  FakeRequest r;
  FilterChain chain;
  auto* first = new HeldResponseFilter("first", true);
  chain.add(std::unique_ptr<RequestFilter>(first));
  chain.add(std::make_unique<TagFilter>("plain"));
  chain.add(std::make_unique<HeldResponseFilter>("second", false));
  EXPECT_TRUE(chain.has_held_response_filters());
  EXPECT_EQ(chain.held_body_limit(), 100u);
  r.runner.start(&chain, &r, &r);
  ASSERT_TRUE(r.runner.wants_held_response());
  HeldResponse response;
  r.runner.start_held_response(&response);
  EXPECT_TRUE(r.runner.holding_response());
  EXPECT_EQ(r.responses_passed, 0);
  first->waiting_for->continue_response();
  EXPECT_EQ(r.responses_passed, 1);
  EXPECT_EQ(tags(response.head.headers), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(first->cancels, 0);
}

TEST(FilterRunner, ClientGoneWhileTheResponseIsHeldCancelsTheWait) {
  FakeRequest r;
  FilterChain chain;
  auto* held = new HeldResponseFilter("h", true);
  chain.add(std::unique_ptr<RequestFilter>(held));
  r.runner.start(&chain, &r, &r);
  HeldResponse response;
  r.runner.start_held_response(&response);
  r.runner.cancel();
  EXPECT_EQ(held->cancels, 1);
  r.runner.resume_response();  // a late answer: nothing more runs
  EXPECT_EQ(r.responses_passed, 0);
}

TEST(FilterRunner, NoHeldResponseWhenTheRequestWasAnswered) {
  FakeRequest r;
  FilterChain chain;
  chain.add(std::make_unique<DenyFilter>());
  chain.add(std::make_unique<HeldResponseFilter>("h", false));
  r.runner.start(&chain, &r, &r);
  EXPECT_FALSE(r.runner.wants_held_response());
}

}  // namespace
}  // namespace ringway
