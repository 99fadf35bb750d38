// GrpcUnaryCall against a real gRPC C++ server (tests/fixtures/ringway-grpc-server,
// started here as a process: gRPC C++ links OpenSSL, which cannot share a process
// with the gateway's BoringSSL), over the shard's own HTTP/2 pool and loop.

#include "plugin/grpc_call.h"
#include "plugin/plugin_client.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coprocess_object.pb.h"
#include "io/loop.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

constexpr char kService[] = "/ringway.test.TestService/";

// A fixture server (named by an environment variable meson sets), on a free port.
class GrpcServerProcess {
 public:
  explicit GrpcServerProcess(const char* variable = "RINGWAY_GRPC_SERVER")
      : variable_(variable) {}
  bool start(std::string* error) {
    const char* path = getenv(variable_);
    if (!path) {
      *error = std::string(variable_) + " is not set (meson sets it)";
      return false;
    }
    int out[2];
    if (pipe(out) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      execl(path, path, "--listen", "127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[256] = {};
    bool got = fgets(line, sizeof(line), f) != nullptr;
    fclose(f);
    unsigned p = 0;
    if (!got || sscanf(line, "listening on 127.0.0.1:%u", &p) != 1) {
      *error = std::string("no 'listening on' line from ") + path + ": " + line;
      return false;
    }
    port = static_cast<uint16_t>(p);
    return true;
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  ~GrpcServerProcess() { stop(); }
  uint16_t port = 0;

 private:
  const char* variable_;
  pid_t pid_ = -1;
};

class Collect : public GrpcCallDone {
 public:
  void on_grpc_call_done(GrpcCallResult& result) override {
    results.push_back(std::move(result));
  }
  std::vector<GrpcCallResult> results;
};

UpstreamSettings h2c_settings(uint16_t port) {
  UpstreamSettings s;
  s.api = "plugin";
  s.target.protocol = UpstreamProtocol::Http2;
  s.target.host = "127.0.0.1";
  s.target.port = port;
  s.target.authority = "127.0.0.1:" + std::to_string(port);
  auto* in = reinterpret_cast<sockaddr_in*>(&s.target.address.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
  s.target.address.len = sizeof(sockaddr_in);
  s.target.address.text = s.target.authority;
  s.reconnect_backoff_ms = 0;
  s.reconnect_backoff_max_ms = 0;
  return s;
}

// A protobuf varint (the tests hand-encode the fixture's small messages).
std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string bytes_field(int number, const std::string& value) {
  return std::string(1, static_cast<char>(number << 3 | 2)) + varint(value.size()) + value;
}

std::string int_field(int number, uint64_t value) {
  return std::string(1, static_cast<char>(number << 3)) + varint(value);
}

class GrpcCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.start(&error)) << error;
    ASSERT_TRUE(loop_.init(LoopLimits{256, 64, 16384}, &error)) << error;
    pools_ = std::make_unique<UpstreamPools>(&loop_);
    pool_ = pools_->acquire(h2c_settings(server_.port), &stats_, &error);
    ASSERT_NE(pool_, nullptr) << error;
    options_.authority = "127.0.0.1:" + std::to_string(server_.port);
    options_.timeout_ms = 5000;
  }
  void TearDown() override {
    pool_.reset();
    pools_->abort_all();
    if (pools_->connection_count() > 0) run_for(50);
  }

  GrpcUnaryCall* call(const std::string& method, const std::string& request) {
    return GrpcUnaryCall::start(&loop_, pool_.get(), kService + method, request, options_,
                                &done_);
  }
  // Runs the loop until |n| results are in (bounded: 10 s).
  void run_until(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done_.results.size() < n && std::chrono::steady_clock::now() < deadline) {
      loop_.run_once();
    }
    ASSERT_EQ(done_.results.size(), n) << "calls did not finish within 10 s";
  }
  // Runs the loop for |ms| (a timer wakes it).
  void run_for(uint64_t ms) {
    bool fired = false;
    Timer t;
    t.callback = [](Timer* timer) { *static_cast<bool*>(timer->owner) = true; };
    t.owner = &fired;
    loop_.arm_timer(&t, ms);
    while (!fired) loop_.run_once();
  }

  GrpcServerProcess server_;
  Loop loop_;
  std::unique_ptr<UpstreamPools> pools_;
  UpstreamConnStats stats_;
  std::shared_ptr<UpstreamPool> pool_;
  GrpcCallOptions options_;
  Collect done_;
};

TEST_F(GrpcCallTest, UnaryCallsShareOneConnection) {
  std::string request = bytes_field(1, "hello plugin");
  for (int i = 0; i < 8; ++i) call("Unary", request);  // one turn: one connection
  EXPECT_TRUE(done_.results.empty());  // never from inside start()
  run_until(8);
  for (const GrpcCallResult& r : done_.results) {
    EXPECT_EQ(r.status, GrpcCallStatus::kOk) << r.reason;
    EXPECT_EQ(r.message, request);  // EchoReply{payload} encodes like EchoRequest{payload}
  }
  EXPECT_EQ(stats_.connects, 1u);
}

TEST_F(GrpcCallTest, AnEmptyReplyMessageIsAMessage) {
  call("Unary", "");
  run_until(1);
  EXPECT_EQ(done_.results[0].status, GrpcCallStatus::kOk) << done_.results[0].reason;
  EXPECT_EQ(done_.results[0].message, "");
}

TEST_F(GrpcCallTest, ANonZeroGrpcStatusIsReported) {
  call("Fail", int_field(1, 5) + bytes_field(2, "no such key"));  // NOT_FOUND
  call("NoSuchMethod", "");
  run_until(2);
  // In the order the server answered.
  const GrpcCallResult& fail = done_.results[0].grpc_status == 5 ? done_.results[0]
                                                                  : done_.results[1];
  const GrpcCallResult& unknown = &fail == &done_.results[0] ? done_.results[1]
                                                             : done_.results[0];
  EXPECT_EQ(fail.status, GrpcCallStatus::kError);
  EXPECT_EQ(fail.grpc_status, 5);
  EXPECT_EQ(fail.reason, "no such key");
  EXPECT_EQ(unknown.status, GrpcCallStatus::kError);
  EXPECT_EQ(unknown.grpc_status, 12);  // UNIMPLEMENTED
}

TEST_F(GrpcCallTest, TheDeadlineCutsASlowCall) {
  options_.timeout_ms = 100;
  auto start = std::chrono::steady_clock::now();
  call("Sleep", int_field(1, 3000));
  run_until(1);
  EXPECT_EQ(done_.results[0].status, GrpcCallStatus::kDeadline);
  // Bounded by the deadline, not the sleep (a hang check, not a speed assertion).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // The connection is still good for the next call.
  options_.timeout_ms = 5000;
  call("Unary", bytes_field(1, "after"));
  run_until(2);
  EXPECT_EQ(done_.results[1].status, GrpcCallStatus::kOk) << done_.results[1].reason;
}

TEST_F(GrpcCallTest, MessageSizesAreBounded) {
  options_.max_send_bytes = 10;
  call("Unary", bytes_field(1, std::string(20, 'x')));
  options_.max_send_bytes = 4 << 20;
  options_.max_recv_bytes = 1000;
  call("Unary", int_field(2, 100000));  // a 100 000-byte reply
  call("Unary", int_field(2, 900));     // fits
  run_until(3);
  EXPECT_EQ(done_.results[0].status, GrpcCallStatus::kTooLarge);
  int too_large = 0, ok = 0;
  for (size_t i = 1; i < 3; ++i) {
    too_large += done_.results[i].status == GrpcCallStatus::kTooLarge;
    ok += done_.results[i].status == GrpcCallStatus::kOk;
  }
  EXPECT_EQ(too_large, 1);
  EXPECT_EQ(ok, 1);
}

TEST_F(GrpcCallTest, ACancelledCallIsNeverReported) {
  GrpcUnaryCall* c = call("Sleep", int_field(1, 200));
  call("Unary", bytes_field(1, "x"));
  c->cancel();
  run_until(1);
  EXPECT_EQ(done_.results[0].status, GrpcCallStatus::kOk);
  // Nothing else arrives, also after the sleep would have ended.
  run_for(400);
  EXPECT_EQ(done_.results.size(), 1u);
}

TEST_F(GrpcCallTest, AServerThatIsNotGrpcIsAProtocolError) {
  // The HTTP test backend over h2c: a text/plain 200 and a 503.
  GrpcServerProcess backend("RINGWAY_TEST_BACKEND");
  std::string error;
  ASSERT_TRUE(backend.start(&error)) << error;
  auto pool = pools_->acquire(h2c_settings(backend.port), &stats_, &error);
  ASSERT_NE(pool, nullptr) << error;
  GrpcUnaryCall::start(&loop_, pool.get(), "/hello", "x", options_, &done_);
  GrpcUnaryCall::start(&loop_, pool.get(), "/status?code=503", "x", options_, &done_);
  run_until(2);
  for (const GrpcCallResult& r : done_.results) {
    EXPECT_EQ(r.status, GrpcCallStatus::kProtocol);
  }
  std::vector<std::string> reasons{done_.results[0].reason, done_.results[1].reason};
  std::sort(reasons.begin(), reasons.end());
  EXPECT_EQ(reasons, (std::vector<std::string>{"HTTP status 503",
                                               "not a gRPC reply (content-type)"}));
  pool.reset();
}

// The coprocess protocol end to end at the transport level: an Object built with the
// gateway's generated messages, dispatched to a Tyk-style plugin server built with
// gRPC C++ from the same .proto files, and its reply parsed back.
TEST_F(GrpcCallTest, DispatchesCoprocessObjectsToAPluginServer) {
  GrpcServerProcess plugin("RINGWAY_PLUGIN_SERVER");
  std::string error;
  ASSERT_TRUE(plugin.start(&error)) << error;
  auto pool = pools_->acquire(h2c_settings(plugin.port), &stats_, &error);
  ASSERT_NE(pool, nullptr) << error;
  auto dispatch = [&](const std::string& hook) {
    coprocess::Object o;
    o.set_hook_type(coprocess::Pre);
    o.set_hook_name(hook);
    o.mutable_request()->set_url("/orders/1?drop=x");
    o.mutable_request()->set_method("GET");
    (*o.mutable_request()->mutable_headers())["Authorization"] = "abc";
    o.mutable_request()->mutable_return_overrides()->set_response_code(-1);
    (*o.mutable_spec())["APIID"] = "orders";
    (*o.mutable_spec())["config_data"] = "{\"x\":1}";
    GrpcUnaryCall::start(&loop_, pool.get(), "/coprocess.Dispatcher/Dispatch",
                         o.SerializeAsString(), options_, &done_);
  };
  dispatch("set_headers");
  dispatch("override");
  dispatch("config");
  dispatch("auth_ok");
  dispatch("grpc_error");
  run_until(5);
  std::map<std::string, coprocess::Object> replies;
  int errors = 0;
  for (const GrpcCallResult& r : done_.results) {
    if (r.status == GrpcCallStatus::kError) {
      EXPECT_EQ(r.grpc_status, 13);
      EXPECT_EQ(r.reason, "plugin failed");
      ++errors;
      continue;
    }
    ASSERT_EQ(r.status, GrpcCallStatus::kOk) << r.reason;
    coprocess::Object reply;
    ASSERT_TRUE(reply.ParseFromString(r.message));
    replies[reply.hook_name()] = reply;
  }
  EXPECT_EQ(errors, 1);
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies["set_headers"].request().set_headers().at("Testheader"), "testvalue");
  EXPECT_EQ(replies["set_headers"].request().url(), "/orders/1?drop=x");  // echoed
  const auto& ro = replies["override"].request().return_overrides();
  EXPECT_EQ(ro.response_code(), 418);
  EXPECT_EQ(ro.response_error(), "I'm a teapot");
  EXPECT_EQ(ro.headers().at("X-Plugin"), "yes");
  EXPECT_EQ(replies["config"].metadata().at("config_data"), "{\"x\":1}");
  EXPECT_EQ(replies["config"].metadata().at("api_id"), "orders");
  EXPECT_EQ(replies["auth_ok"].session().rate(), 100);
  EXPECT_EQ(replies["auth_ok"].session().key_id(), "abc");
  EXPECT_EQ(replies["auth_ok"].metadata().at("token"), "abc");
  pool.reset();
}

class Replies : public PluginReplyDone {
 public:
  // What a test looks at (a reply's object lives on its arena, gone after the call).
  struct Seen {
    GrpcCallStatus status;
    int grpc_status;
    coprocess::Object object;
  };
  void on_plugin_reply(PluginReply& reply) override {
    replies.push_back(Seen{reply.status, reply.grpc_status, reply.object});
  }
  std::vector<Seen> replies;
};

coprocess::Object hook_object(coprocess::HookType type, const std::string& name,
                              const std::string& sleep_ms = "") {
  coprocess::Object o;
  o.set_hook_type(type);
  o.set_hook_name(name);
  o.mutable_request()->set_url("/x");
  o.mutable_request()->set_method("GET");
  if (!sleep_ms.empty()) (*o.mutable_request()->mutable_headers())["X-Sleep-Ms"] = sleep_ms;
  return o;
}

TEST_F(GrpcCallTest, ThePluginClientBoundsCallsAndCountsThemPerHook) {
  GrpcServerProcess plugin("RINGWAY_PLUGIN_SERVER");
  std::string error;
  ASSERT_TRUE(plugin.start(&error)) << error;
  auto pool = pools_->acquire(h2c_settings(plugin.port), &stats_, &error);
  ASSERT_NE(pool, nullptr) << error;
  PluginClientSettings settings;
  settings.authority = "localhost";
  settings.timeout_ms = 300;
  settings.max_in_flight = 2;
  PluginClient client(&loop_, pool, settings);
  Replies got;
  auto run_replies = [&](size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.replies.size() < n && std::chrono::steady_clock::now() < deadline) {
      loop_.run_once();
    }
    ASSERT_EQ(got.replies.size(), n);
  };

  ASSERT_NE(client.dispatch(hook_object(coprocess::Pre, "set_headers"), &got), nullptr);
  ASSERT_NE(client.dispatch(hook_object(coprocess::Post, "grpc_error"), &got), nullptr);
  // max_in_flight = 2: refused at once, nothing sent.
  EXPECT_EQ(client.dispatch(hook_object(coprocess::Pre, "set_headers"), &got), nullptr);
  EXPECT_EQ(client.in_flight(), 2u);
  run_replies(2);
  EXPECT_EQ(client.in_flight(), 0u);
  for (const Replies::Seen& r : got.replies) {
    if (r.status == GrpcCallStatus::kOk) {
      EXPECT_EQ(r.object.hook_name(), "set_headers");
      EXPECT_EQ(r.object.request().set_headers().at("Testheader"), "testvalue");
    } else {
      EXPECT_EQ(r.status, GrpcCallStatus::kError);
      EXPECT_EQ(r.grpc_status, 13);
    }
  }
  // A plugin slower than timeout_ms.
  client.dispatch(hook_object(coprocess::PostKeyAuth, "sleep", "2000"), &got);
  run_replies(3);
  EXPECT_EQ(got.replies[2].status, GrpcCallStatus::kDeadline);
  // A cancelled call frees its slot and is never answered.
  PluginClient::Call* call = client.dispatch(hook_object(coprocess::Response, "sleep", "100"),
                                             &got);
  ASSERT_NE(call, nullptr);
  client.cancel(call);
  EXPECT_EQ(client.in_flight(), 0u);
  run_for(300);
  EXPECT_EQ(got.replies.size(), 3u);

  const auto& s = client.stats();
  EXPECT_EQ(s[coprocess::Pre].calls, 1u);
  EXPECT_EQ(s[coprocess::Pre].refused, 1u);
  EXPECT_EQ(s[coprocess::Pre].errors, 0u);
  EXPECT_EQ(s[coprocess::Post].errors, 1u);
  EXPECT_EQ(s[coprocess::PostKeyAuth].timeouts, 1u);
  EXPECT_EQ(s[coprocess::PostKeyAuth].errors, 1u);
  EXPECT_EQ(s[coprocess::Response].calls, 1u);
  // Destroyed with a call in flight: the call is cancelled, nothing is answered.
  {
    PluginClient short_lived(&loop_, pool, settings);
    ASSERT_NE(short_lived.dispatch(hook_object(coprocess::Pre, "sleep", "50"), &got), nullptr);
  }
  run_for(200);
  EXPECT_EQ(got.replies.size(), 3u);
  pool.reset();
}

TEST_F(GrpcCallTest, ADeadServerIsUnavailable) {
  call("Unary", bytes_field(1, "x"));
  run_until(1);
  ASSERT_EQ(done_.results[0].status, GrpcCallStatus::kOk);
  server_.stop();  // the connection drops; nothing listens any more
  run_for(100);
  call("Unary", bytes_field(1, "y"));
  run_until(2);
  EXPECT_EQ(done_.results[1].status, GrpcCallStatus::kUnavailable);
  EXPECT_FALSE(done_.results[1].reason.empty());
}

}  // namespace
}  // namespace ringway
