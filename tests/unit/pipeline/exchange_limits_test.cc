// The Exchange's request body limits, driven directly through its codec-facing
// interface (a fake ServerStream) on a real loop: max_request_body_bytes by
// content-length and as the body streams, and client_body_timeout_ms (not for gRPC).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "http/downstream.h"
#include "http/server_codec.h"
#include "io/loop.h"
#include "pipeline/api_stats.h"
#include "pipeline/proxy_generation.h"
#include "pipeline/proxy_shard.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

class NoRefs : public GenerationRefs {
 public:
  void acquire() override {}
  void release() override {}
};

// Records how the Exchange answered.
class FakeStream : public ServerStream {
 public:
  void send_response_head(ResponseHead& head, bool) override { head_status = head.status; }
  void send_response_data(Slice) override {}
  void send_response_end(const HeaderList*) override { ended = true; }
  void send_local_reply(ResponseHead& head, Slice body) override {
    local_status = head.status;
    local_body.assign(body.data(), body.size());
    for (const Header& h : head.headers) {
      if (h.name == "grpc-status") grpc_status = h.value;
    }
  }
  void abort_response() override { aborted = true; }
  void consume_request_bytes(uint32_t) override {}
  void pause_request() override {}
  void resume_request() override {}

  bool answered() const { return local_status != 0 || aborted || ended; }

  int head_status = 0;
  int local_status = 0;
  std::string local_body;
  std::string grpc_status;
  bool aborted = false;
  bool ended = false;
};

// A port that accepts connections (in the kernel's backlog) and never answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class ExchangeLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(loop_.init(LoopLimits{64, 16, 4096}, &error)) << error;
    pools_ = std::make_unique<UpstreamPools>(&loop_);
  }
  void TearDown() override {
    // Upstream connections still connecting finish (or close) in loop turns.
    drain(50);
    gen_.reset();
    pools_->collect();
    drain(50);
    pools_.reset();
    drain(50);
  }

  // Runs loop turns for |ms| (a timer bounds each wait).
  void drain(uint64_t ms) {
    Timer stop;
    bool stopped = false;
    stop.owner = &stopped;
    stop.callback = [](Timer* t) { *static_cast<bool*>(t->owner) = true; };
    loop_.arm_timer(&stop, ms);
    for (int turn = 0; turn < 10000 && !stopped; ++turn) loop_.run_once();
    loop_.disarm_timer(&stop);
  }

  void start(const std::string& gateway_keys) {
    std::string text = "[gateway]\n" + gateway_keys +
                       "[api.up]\nlisten_path = /up\nuse_keyless = true\n"
                       "target_url = http://127.0.0.1:" +
                       std::to_string(upstream_.port()) + "\n";
    ConfigLoadResult r = load_config_text(text, "test.ini");
    for (const ConfigError& e : r.errors) ADD_FAILURE() << format_config_error("test.ini", e);
    std::string error;
    gen_ = ProxyGeneration::build(r.config, &loop_, 0, *pools_, stats_, nullptr, nullptr, &refs_,
                                  &error);
    ASSERT_TRUE(gen_) << error;
    shard_.loop = &loop_;
    shard_.http_stats = &http_stats_;
    shard_.unrouted_stats = stats_.get("-");
    shard_.current = gen_.get();
    factory_ = std::make_unique<ProxyHandlerFactory>(&shard_);
  }

  // A POST to the API; |length| -1 for a body without content-length.
  RequestHandler* post(int64_t length, bool grpc = false) {
    RequestHead head;
    head.method = "POST";
    head.authority = "gw.test";
    head.path = "/up/x";
    head.content_length = length;
    if (length >= 0) head.headers.push_back({"content-length", std::to_string(length)});
    if (grpc) head.headers.push_back({"content-type", "application/grpc"});
    RequestHandler* h = factory_->new_request(&down_, info_);
    h->on_request_head(std::move(head), false);
    return h;
  }

  static Slice bytes(uint32_t n) {
    std::string s(n, 'b');
    return Slice::copy_of(s.data(), n);
  }

  // Runs loop turns until the stream is answered or |ms| pass (a timer bounds each
  // wait, so the loop never blocks for longer).
  void run_for(uint64_t ms) {
    Timer stop;
    bool stopped = false;
    stop.owner = &stopped;
    stop.callback = [](Timer* t) { *static_cast<bool*>(t->owner) = true; };
    loop_.arm_timer(&stop, ms);
    for (int turn = 0; turn < 10000 && !stopped && !down_.answered(); ++turn) loop_.run_once();
    loop_.disarm_timer(&stop);
  }

  SilentListener upstream_;
  Loop loop_;
  std::unique_ptr<UpstreamPools> pools_;
  ApiStatsTable stats_;
  NoRefs refs_;
  std::unique_ptr<ProxyGeneration> gen_;
  HttpServerStats http_stats_;
  ProxyShard shard_;
  std::unique_ptr<ProxyHandlerFactory> factory_;
  DownstreamInfo info_;
  FakeStream down_;
};

TEST_F(ExchangeLimitsTest, ContentLengthOverTheCapIs413BeforeTheUpstream) {
  start("max_request_body_bytes = 1000\n");
  post(1001);
  EXPECT_EQ(down_.local_status, 413);
  EXPECT_EQ(down_.local_body, R"({"error": "request body larger than max_request_body_bytes"})");
  EXPECT_EQ(shard_.active_exchanges, 0u) << "answered and gone";
  EXPECT_EQ(stats_.get("up")->upstream.connects + stats_.get("up")->upstream.connect_failures +
                static_cast<uint64_t>(stats_.get("up")->upstream.connections_open),
            0u)
      << "no upstream connection was even started";
  EXPECT_EQ(http_stats_.local_replies.by_cause[static_cast<size_t>(
                LocalReplyCause::RequestBodyTooLarge)],
            1u);
}

TEST_F(ExchangeLimitsTest, GrpcOverTheCapIsResourceExhausted) {
  start("max_request_body_bytes = 1000\n");
  post(1001, true);
  EXPECT_EQ(down_.local_status, 200);
  EXPECT_EQ(down_.grpc_status, "8");
}

TEST_F(ExchangeLimitsTest, AStreamedBodyMayReachTheCapButNotPassIt) {
  start("max_request_body_bytes = 1000\n");
  RequestHandler* h = post(-1);
  h->on_request_data(bytes(600));
  h->on_request_data(bytes(400));
  EXPECT_FALSE(down_.answered()) << "exactly the cap";
  EXPECT_EQ(shard_.active_exchanges, 1u);
  h->on_request_data(bytes(1));
  EXPECT_EQ(down_.local_status, 413);
  EXPECT_EQ(shard_.active_exchanges, 0u) << "the upstream request was given up";
}

TEST_F(ExchangeLimitsTest, NoCapByDefault) {
  start("");
  RequestHandler* h = post(-1);
  for (int i = 0; i < 64; ++i) h->on_request_data(bytes(1000));
  EXPECT_FALSE(down_.answered());
  h->on_downstream_reset();
  EXPECT_EQ(shard_.active_exchanges, 0u);
}

TEST_F(ExchangeLimitsTest, AStalledBodyGets408) {
  start("client_body_timeout_ms = 20\n");
  RequestHandler* h = post(100);
  h->on_request_data(bytes(10));
  run_for(3000);
  EXPECT_EQ(down_.local_status, 408);
  EXPECT_EQ(down_.local_body, R"({"error": "request body timed out"})");
  EXPECT_EQ(stats_.get("up")->client_body_timeouts, 1u);
  EXPECT_EQ(shard_.active_exchanges, 0u) << "the upstream request was cancelled";
}

TEST_F(ExchangeLimitsTest, AGrpcStreamMayPause) {
  start("client_body_timeout_ms = 20\n");
  RequestHandler* h = post(-1, true);
  h->on_request_data(bytes(10));
  run_for(200);  // ten times the timeout
  EXPECT_FALSE(down_.answered());
  EXPECT_EQ(stats_.get("up")->client_body_timeouts, 0u);
  h->on_downstream_reset();
  EXPECT_EQ(shard_.active_exchanges, 0u);
}

}  // namespace
}  // namespace ringway
