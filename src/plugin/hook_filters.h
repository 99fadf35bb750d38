#pragma once
// Rich-plugin hooks as filters in an API's chain (COPROCESS.md §2): each configured
// hook is one filter making one Dispatch call, the request stopped (its shard goes
// on) until the reply is in.
//   HookFilter          pre, post_key_auth, post: the reply may change headers, query,
//                       URL, method and body, or answer instead (return_overrides).
//   CustomAuthFilter    auth_check: the plugin says who the caller is (a session and
//                       a token) or refuses; the session is cached per shard when the
//                       plugin allows it (id_extractor_deadline) and kept in the key
//                       store, so the key API sees and revokes it.
//   ResponseHookFilter  response: sees the upstream's response (whole, unless it is a
//                       gRPC stream) and may change status, headers and body.
// A call that fails (plugin down, timeout, bad status, garbage, oversize) follows
// [coprocess] on_error: deny answers 500 "Middleware error" (gRPC 13), allow lets the
// request on unchanged — except auth_check, which always fails closed (403). Past
// max_in_flight calls per shard, requests get 503 / UNAVAILABLE.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "auth/auth_filter.h"
#include "config/config.h"
#include "filter/filter.h"
#include "http/upstream.h"
#include "plugin/plugin_client.h"

namespace ringway {

class Loop;

// Custom-auth sessions go to the key store (as Tyk writes them to Redis), from the
// shard's thread without waiting.
class SessionSink {
 public:
  virtual void store_session(const std::string& key, const SessionState& session) = 0;

 protected:
  ~SessionSink() = default;
};

struct PluginFilterStats {
  uint64_t failed_denied = 0;   // calls that failed, request answered 500 (or 403)
  uint64_t failed_allowed = 0;  // calls that failed, request let on (on_error = allow)
  uint64_t overrides = 0;       // requests answered by a plugin's return_overrides
  uint64_t body_too_large = 0;  // bodies over grpc_send_max_size
  uint64_t auth_cache_hits = 0; // custom-auth decisions made without calling the plugin
  uint64_t auth_failures = 0;   // custom auth refused
  uint64_t events_sent = 0;     // DispatchEvent calls (AuthFailure)
  uint64_t events_failed = 0;
};

// A shard's plugin state that outlives configuration generations: counters and the
// authentication state custom auth shares with key auth.
struct PluginShard {
  Loop* loop = nullptr;
  AuthShard* auth = nullptr;        // null when no key store runs
  SessionSink* sessions = nullptr;  // null when no key store runs
  std::array<PluginHookStats, 6> hooks{};  // by coprocess::HookType
  PluginFilterStats stats;
  UpstreamConnStats connections;  // the plugin server connections (sends counted)
  uint64_t last_failure_log_ms = 0;  // failed calls are logged at most once a second
  uint64_t failures_not_logged = 0;
  // Custom-auth sessions sent to the key store lately (by the token's digest, when):
  // a token the plugin keeps accepting is written once per cache_ttl_ms per shard,
  // not on every call. Bounded: cleared when full.
  std::unordered_map<KeyDigest, uint64_t, KeyDigestHash> stored_sessions;
};

// One generation's plugin client and settings, shared by that generation's hook
// filters on one shard.
struct PluginContext {
  PluginShard* shard = nullptr;
  std::unique_ptr<PluginClient> client;
  const CoprocessConfig* config = nullptr;
};

class HookFilter final : public RequestFilter {
 public:
  // |hook_type|: coprocess::Pre, PostKeyAuth or Post.
  HookFilter(PluginContext* context, const ApiConfig& api, int hook_type, std::string name);
  const char* name() const override { return "plugin_hook"; }
  FilterStatus on_request(FilterCallbacks& request) override;

 private:
  PluginContext* context_;
  const ApiConfig* api_;
  int hook_type_;
  std::string hook_name_;
  std::string fixed_;  // hook_type, hook_name and spec, serialised once
};

class CustomAuthFilter final : public RequestFilter {
 public:
  CustomAuthFilter(PluginContext* context, const ApiConfig& api);
  const char* name() const override { return "plugin_auth"; }
  FilterStatus on_request(FilterCallbacks& request) override;

  // The plugin's reply: true when the request was let on (continue_request() is the
  // caller's), false after answering it.
  bool on_reply(FilterCallbacks& request, PluginReply& reply, const KeyDigest* credential);

 private:
  bool admit(FilterCallbacks& request, const AuthEntry& entry, std::string key_id);

  PluginContext* context_;
  const ApiConfig* api_;
  std::string fixed_;
};

class ResponseHookFilter final : public RequestFilter {
 public:
  ResponseHookFilter(PluginContext* context, const ApiConfig& api, std::string name);
  const char* name() const override { return "plugin_response"; }
  FilterStatus on_request(FilterCallbacks&) override { return FilterStatus::kContinue; }
  bool wants_held_response() const override { return true; }
  uint64_t held_body_limit() const override;
  FilterStatus on_held_response(FilterCallbacks& request, HeldResponse& response) override;

 private:
  PluginContext* context_;
  const ApiConfig* api_;
  std::string hook_name_;
  std::string fixed_;
};

// gRPC's status for an HTTP status (the table gRPC clients apply to non-gRPC replies).
int grpc_status_for_http(int status);

}  // namespace ringway
