// ringway-example-plugin: a Tyk rich plugin written in C++ — the example to start from
// when you write your own (README.md here explains how to build, run and configure it).
//
// A rich plugin is a gRPC server implementing the coprocess.Dispatcher service from
// proto/coprocess/*.proto (Tyk's protocol, which Ringway speaks):
//
//   rpc Dispatch(Object) returns (Object)          one call per hook per request
//   rpc DispatchEvent(Event) returns (EventReply)  gateway events (JSON text)
//
// The gateway sends an Object describing the request (and, for response hooks, the
// response); the plugin sends the same Object back, changed where it wants to change
// something. Always start from the object you received: the gateway checks, for
// example, that request.url comes back.
//
// This plugin has three hooks; the gateway names the one it wants in
// Object.hook_name, as listed in the API's configuration:
//
//   AddGreeting    (pre)         sets the upstream request header X-Greeting to the
//                                "greeting" of the API's config_data (JSON), or "hello"
//   CheckToken     (auth_check)  accepts "Authorization: Bearer <token>" for a token in
//                                the allow-list (--token), answers 401 otherwise
//   StampResponse  (response)    adds the response header X-Plugin: cpp-example
//
// Usage:
//   ringway-example-plugin [--listen HOST:PORT | --unix PATH] [--token T]...
//
//   --listen HOST:PORT  TCP address (default 127.0.0.1:5555; port 0 picks a free one)
//   --unix PATH         a unix socket instead (gateway: unix:///abs/PATH)
//   --token T           a token CheckToken accepts; repeatable (default: let-me-in)
//
// It prints "listening on ADDRESS" to stdout once it accepts calls, logs one line per
// call to stderr, and stops gracefully on SIGTERM or SIGINT.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

// Generated at build time from proto/coprocess/*.proto (protoc + grpc_cpp_plugin).
#include "coprocess_object.grpc.pb.h"

namespace {

// Largest message each way; keep it at least the gateway's grpc_send_max_size /
// grpc_recv_max_size ([coprocess], 4 MiB by default).
constexpr int kMaxMessageBytes = 4 << 20;

// ---------------------------------------------------------------------------
// Small helpers

bool iequals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (tolower(static_cast<unsigned char>(a[i])) != tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// A request header's value ("" when absent). The gateway sends header names in Go's
// canonical form ("Authorization", "X-Api-Key"), one value per name; matching without
// regard to case keeps the plugin independent of that.
std::string request_header(const coprocess::Object& object, const std::string& name) {
  for (const auto& [key, value] : object.request().headers()) {
    if (iequals(key, name)) return value;
  }
  return "";
}

// One log line per call on stderr (a single fprintf, so lines from the server's
// threads do not interleave).
void log_call(const coprocess::Object& in, const std::string& outcome) {
  fprintf(stderr, "%s (%s) %s %s: %s\n", in.hook_name().c_str(),
          coprocess::HookType_Name(in.hook_type()).c_str(), in.request().method().c_str(),
          in.request().url().c_str(), outcome.c_str());
}

// ---------------------------------------------------------------------------
// The hooks. Each gets |object|, a copy of what the gateway sent, and changes it.

// pre hook: runs before authentication. request.set_headers are set (replaced) on
// the request that goes upstream.
void add_greeting(coprocess::Object& object) {
  std::string greeting = "hello";
  // The API's config_data arrives as JSON text in spec["config_data"] (the other spec
  // entries: APIID, OrgID, bundle_hash).
  auto it = object.spec().find("config_data");
  if (it != object.spec().end() && !it->second.empty()) {
    // parse(..., nullptr, false): no exceptions; a "discarded" value on bad JSON.
    nlohmann::json config = nlohmann::json::parse(it->second, nullptr, false);
    if (config.is_object() && config.contains("greeting") && config["greeting"].is_string()) {
      greeting = config["greeting"].get<std::string>();
    }
  }
  (*object.mutable_request()->mutable_set_headers())["X-Greeting"] = greeting;
  log_call(object, "X-Greeting: " + greeting);
}

// auth_check hook (enable_coprocess_auth = true): decides whether the request may
// pass. The gateway lets it through when the reply carries a session AND a non-empty
// metadata["token"] (the key the session belongs to); otherwise it refuses (403), or
// answers what return_overrides says.
void check_token(coprocess::Object& object, const std::set<std::string>& tokens) {
  std::string authorization = request_header(object, "Authorization");
  std::string token;
  if (authorization.size() > 7 && iequals(authorization.substr(0, 7), "Bearer ")) {
    token = authorization.substr(7);
  }
  if (token.empty() || tokens.count(token) == 0) {
    // Refuse with our own status and message. A response_code >= 400 without
    // override_error is sent in Tyk's error template: {"error": "token rejected"}.
    coprocess::ReturnOverrides* overrides = object.mutable_request()->mutable_return_overrides();
    overrides->set_response_code(401);
    overrides->set_response_error("token rejected");
    log_call(object, "rejected");
    return;
  }
  // Accepted: a session for this token. The gateway enforces its limits (here 100
  // requests per second; quota_max -1 is "no quota"; empty access_rights: every API).
  coprocess::SessionState* session = object.mutable_session();
  session->set_rate(100);
  session->set_per(1);
  session->set_quota_max(-1);
  (*session->mutable_metadata())["token"] = token;
  // The gateway may reuse this session without asking again until this time (Unix
  // seconds), for requests with the same Authorization header.
  session->set_id_extractor_deadline(static_cast<int64_t>(time(nullptr)) + 60);
  (*object.mutable_metadata())["token"] = token;
  log_call(object, "accepted");
}

// Sets one response header in both forms the response hook returns: headers (first
// value of each name) and multivalue_headers (every value), replacing any value the
// header had.
void set_response_header(coprocess::ResponseObject* response, const std::string& name,
                         const std::string& value) {
  for (auto it = response->mutable_headers()->begin(); it != response->mutable_headers()->end();) {
    it = iequals(it->first, name) ? response->mutable_headers()->erase(it) : std::next(it);
  }
  (*response->mutable_headers())[name] = value;
  auto* multi = response->mutable_multivalue_headers();
  for (int i = multi->size() - 1; i >= 0; --i) {
    if (iequals(multi->Get(i).key(), name)) multi->DeleteSubrange(i, 1);
  }
  coprocess::Header* header = multi->Add();
  header->set_key(name);
  header->add_values(value);
}

// response hook: runs on the upstream's response. The returned response.status_code,
// raw_body and headers become the client's response, so a hook that only adds a
// header leaves status_code and raw_body as received (they are echoed back).
void stamp_response(coprocess::Object& object) {
  set_response_header(object.mutable_response(), "X-Plugin", "cpp-example");
  log_call(object, "status " + std::to_string(object.response().status_code()) + ", " +
                       std::to_string(object.response().raw_body().size()) + " body bytes");
}

// ---------------------------------------------------------------------------
// The gRPC service (the synchronous API: gRPC calls these on its own threads, so
// they must be thread-safe; these only read |tokens_|).

class Dispatcher final : public coprocess::Dispatcher::Service {
 public:
  explicit Dispatcher(std::set<std::string> tokens) : tokens_(std::move(tokens)) {}

  grpc::Status Dispatch(grpc::ServerContext*, const coprocess::Object* in,
                        coprocess::Object* out) override {
    *out = *in;  // reply with the object received, changed by the hook
    const std::string& hook = in->hook_name();
    if (hook == "AddGreeting") {
      add_greeting(*out);
    } else if (hook == "CheckToken") {
      check_token(*out, tokens_);
    } else if (hook == "StampResponse") {
      stamp_response(*out);
    } else {
      // A hook this plugin does not have: leave everything as it is. (Returning a
      // gRPC error instead would make the gateway apply its on_error policy.)
      log_call(*in, "unknown hook, object returned unchanged");
    }
    return grpc::Status::OK;
  }

  grpc::Status DispatchEvent(grpc::ServerContext*, const coprocess::Event* event,
                             coprocess::EventReply*) override {
    fprintf(stderr, "event: %s\n", event->payload().c_str());
    return grpc::Status::OK;
  }

 private:
  const std::set<std::string> tokens_;
};

[[noreturn]] void usage() {
  fprintf(stderr,
          "usage: ringway-example-plugin [--listen HOST:PORT | --unix PATH] [--token T]...\n");
  exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:5555";
  std::string unix_path;
  std::set<std::string> tokens;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
      listen = argv[++i];
    } else if (!strcmp(argv[i], "--unix") && i + 1 < argc) {
      unix_path = argv[++i];
    } else if (!strcmp(argv[i], "--token") && i + 1 < argc) {
      tokens.insert(argv[++i]);
    } else {
      usage();
    }
  }
  if (tokens.empty()) tokens.insert("let-me-in");
  if (!unix_path.empty() && unix_path[0] != '/') {
    // An absolute path, as the gateway's unix:///PATH address needs.
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) usage();
    unix_path = std::string(cwd) + "/" + unix_path;
  }
  size_t colon = listen.rfind(':');
  if (unix_path.empty() && (colon == std::string::npos || colon == 0)) usage();

  // SIGTERM/SIGINT are blocked in every thread (gRPC's threads inherit the mask) and
  // taken by sigwait() below, which then shuts the server down in order.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Dispatcher service(std::move(tokens));
  grpc::ServerBuilder builder;
  int port = 0;  // the port actually bound (for --listen HOST:0)
  // Plain (cleartext) HTTP/2, which is what the gateway's tcp:// and unix:// speak.
  if (unix_path.empty()) {
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  } else {
    builder.AddListeningPort("unix:" + unix_path, grpc::InsecureServerCredentials());
  }
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || (unix_path.empty() && port == 0)) {
    fprintf(stderr, "ringway-example-plugin: cannot listen on %s\n",
            unix_path.empty() ? listen.c_str() : unix_path.c_str());
    return 1;
  }
  if (unix_path.empty()) {
    printf("listening on %s:%d\n", listen.substr(0, colon).c_str(), port);
  } else {
    printf("listening on unix://%s\n", unix_path.c_str());
  }
  fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  fprintf(stderr, "signal %d: shutting down\n", sig);
  // Stop accepting calls; calls in progress get up to a second to finish.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}
