#include "plugin/hook_filters.h"

#include <ctime>
#include <map>

#include <google/protobuf/arena.h>
#include <nlohmann/json.hpp>

#include "auth/key_resolver.h"
#include "base/log.h"
#include "config/values.h"
#include "http/local_reply.h"
#include "io/loop.h"
#include "plugin/hook_mapping.h"
#include "store/key_hash.h"
#include "tls/crypto.h"

namespace ringway {
namespace {

constexpr char kMiddlewareError[] = "Middleware error";
constexpr char kKeyNotAuthorised[] = "Key not authorised";
constexpr char kBodyTooLarge[] =
    "request body is larger than the plugin message limit (grpc_send_max_size)";
// MD5 of the empty string: Tyk's bundle_hash for an API without a bundle (Ringway
// has no bundles).
constexpr char kEmptyBundleHash[] = "d41d8cd98f00b204e9800998ecf8427e";
// Failed-call log lines per shard: at most one a second (a dead plugin under load
// must not flood the log); the rest are counted in /metrics.
constexpr uint64_t kFailureLogIntervalMs = 1000;
// Tokens remembered as recently written to the key store, per shard.
constexpr size_t kMaxStoredSessions = 65536;

const char* hook_label(int hook_type) {
  switch (hook_type) {
    case coprocess::Pre: return "pre";
    case coprocess::Post: return "post";
    case coprocess::PostKeyAuth: return "post_key_auth";
    case coprocess::CustomKeyCheck: return "auth_check";
    case coprocess::Response: return "response";
    default: return "unknown";
  }
}

// What every call of one hook sends alike (hook_type, hook_name, spec), serialised
// once: a call serialises the rest and appends these bytes (protobuf fields may come
// in any order, and map entries simply add up).
std::string fixed_part(const ApiConfig& api, int hook_type, const std::string& hook_name);

void fill_spec(const ApiConfig& api, coprocess::Object* object) {
  auto* spec = object->mutable_spec();
  (*spec)["APIID"] = api.name;
  (*spec)["OrgID"] = api.org_id;
  (*spec)["bundle_hash"] = kEmptyBundleHash;
  if (!api.config_data.empty()) (*spec)["config_data"] = api.config_data;
}

// The key's session and (as Tyk) a copy of its metadata in the object's.
void fill_session(const RequestIdentity& identity, coprocess::Object* object) {
  if (!identity.session) return;
  coprocess::SessionState* session = object->mutable_session();
  to_coprocess_session(*identity.session, identity.key_id, session);
  for (const auto& [k, v] : session->metadata()) (*object->mutable_metadata())[k] = v;
}

std::string fixed_part(const ApiConfig& api, int hook_type, const std::string& hook_name) {
  coprocess::Object fixed;
  fixed.set_hook_type(static_cast<coprocess::HookType>(hook_type));
  fixed.set_hook_name(hook_name);
  fill_spec(api, &fixed);
  return fixed.SerializeAsString();
}

// The message for one call: |object| (the per-request part) and the hook's fixed part.
std::string serialise_call(const coprocess::Object& object, const std::string& fixed) {
  std::string wire;
  wire.reserve(object.ByteSizeLong() + fixed.size());
  object.AppendToString(&wire);
  wire += fixed;
  return wire;
}

// Logs a failed call (rate-limited per shard).
void log_failure(PluginShard& shard, const ApiConfig& api, int hook_type,
                 const std::string& hook_name, std::string_view what, const char* outcome) {
  uint64_t& last_ms = shard.last_failure_log_ms;
  uint64_t& suppressed = shard.failures_not_logged;
  uint64_t now = shard.loop->now_ms();
  if (last_ms != 0 && now - last_ms < kFailureLogIntervalMs) {
    ++suppressed;
    return;
  }
  std::string more;
  if (suppressed) more = " (" + std::to_string(suppressed) + " more since the last line)";
  RW_LOG(Warn, "api %s: plugin %s hook %s failed: %.*s; %s%s", api.name.c_str(),
         hook_label(hook_type), hook_name.c_str(), static_cast<int>(what.size()), what.data(),
         outcome, more.c_str());
  last_ms = now;
  suppressed = 0;
}

std::string failure_text(const PluginReply& reply) {
  std::string text = grpc_call_status_name(reply.status);
  if (reply.status == GrpcCallStatus::kError) text += " " + std::to_string(reply.grpc_status);
  if (!reply.reason.empty()) text += ": " + reply.reason;
  return text;
}

// A call that failed under [coprocess] on_error: true when the request goes on.
bool on_error_continues(PluginContext& ctx, FilterCallbacks& request, const ApiConfig& api,
                        int hook_type, const std::string& hook_name, std::string_view what) {
  if (ctx.config->on_error_allow) {
    ++ctx.shard->stats.failed_allowed;
    log_failure(*ctx.shard, api, hook_type, hook_name, what, "on_error = allow: passed on");
    return true;
  }
  ++ctx.shard->stats.failed_denied;
  log_failure(*ctx.shard, api, hook_type, hook_name, what, "answered 500");
  request.reply_locally(LocalReplyCause::PluginFailed, kMiddlewareError);
  return false;
}

// Tyk's AuthFailure event, to the configured DispatchEvent handler.
void send_auth_failure_event(PluginContext& ctx, FilterCallbacks& request,
                             const ApiConfig& api, std::string_view message,
                             std::string_view key) {
  if (ctx.config->event_handler.empty()) return;
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json payload = {
      {"message",
       {{"Type", "AuthFailure"},
        {"Meta",
         {{"Message", std::string(message)},
          {"Path", request.request().path},
          {"Origin", std::string(request.downstream().client_address)},
          {"Key", std::string(key)}}},
        {"TimeStamp", stamp}}},
      {"handler_name", ctx.config->event_handler},
      {"spec", {{"APIID", api.name}, {"OrgID", api.org_id}}}};
  ctx.client->dispatch_event(payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                             &ctx.shard->stats.events_sent, &ctx.shard->stats.events_failed);
}

// A final HTTP status a client accepts.
bool is_final_status(int status) { return status >= 200 && status <= 599; }

// The message fits grpc_send_max_size (bodies travel twice, raw_body and body, when
// they are text).
bool fits(const PluginContext& ctx, const std::string& wire) {
  return wire.size() <= ctx.config->grpc_send_max_size;
}

bool valid_grpc_status(std::string_view v, int* out) {
  if (v.empty() || v.size() > 2) return false;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (n > 16) return false;
  *out = n;
  return true;
}

// A plugin's return override as the reply. gRPC clients get an error status as a
// trailers-only response (grpc-status from the plugin's headers, else from the HTTP
// code), with the message in grpc-message.
// False (nothing sent, |why| set) when the plugin's status or headers cannot go on the
// wire.
bool send_override(PluginContext& ctx, FilterCallbacks& request,
                   const coprocess::ReturnOverrides& overrides, std::string* why) {
  OverrideReply reply = decide_override(overrides);
  if (!is_final_status(reply.status)) {
    *why = "return_overrides.response_code " + std::to_string(reply.status) +
           " is not a final HTTP status (200-599)";
    return false;
  }
  if (!headers_are_valid(reply.headers, why)) return false;
  ++ctx.shard->stats.overrides;
  ResponseHead head;
  if (request.is_grpc() && reply.status >= 400) {
    int grpc_status = grpc_status_for_http(reply.status);
    std::string message =
        overrides.response_error().empty() ? overrides.response_body() : overrides.response_error();
    if (message.empty()) message = kKeyNotAuthorised;
    head.status = 200;
    for (Header& h : reply.headers) {
      std::string_view n = h.name.view();
      if (n == "grpc-status") {
        valid_grpc_status(h.value.view(), &grpc_status);
        continue;
      }
      if (n == "content-type" || n == "content-length" || n == "grpc-message") continue;
      head.headers.push_back(std::move(h));
    }
    head.headers.push_back({"content-type", "application/grpc"});
    head.headers.push_back({"grpc-status", std::to_string(grpc_status)});
    head.headers.push_back({"grpc-message", grpc_percent_encode(message)});
    request.reply_with(head, std::string());
    return true;
  }
  head.status = reply.status;
  for (Header& h : reply.headers) {
    if (h.name.view() == "content-length" || h.name.view() == "transfer-encoding") continue;
    head.headers.push_back(std::move(h));
  }
  if (reply.status == 204 || reply.status == 304) reply.body.clear();  // bodiless
  request.reply_with(head, std::move(reply.body));
  return true;
}

// One Dispatch call a request waits for: cancelled with the request, or delivers
// the reply once.
class HookCall : public PendingOperation, public PluginReplyDone {
 public:
  HookCall(PluginClient* client, FilterCallbacks* request) : client_(client), request_(request) {}
  virtual ~HookCall() = default;

  // False (nothing sent) at max_in_flight.
  bool start(int hook_type, std::string_view wire) {
    call_ = client_->dispatch(hook_type, wire, this);
    return call_ != nullptr;
  }
  void cancel() override {
    client_->cancel(call_);
    delete this;
  }
  void on_plugin_reply(PluginReply& reply) override {
    request_->set_pending(nullptr);
    handle(*request_, reply);
    delete this;
  }

 protected:
  virtual void handle(FilterCallbacks& request, PluginReply& reply) = 0;

 private:
  PluginClient* client_;
  FilterCallbacks* request_;
  PluginClient::Call* call_ = nullptr;
};

// Sends |call| (or answers 503 at max_in_flight): the filter's on_request result.
FilterStatus dispatch(FilterCallbacks& request, HookCall* call, int hook_type,
                      std::string_view wire) {
  if (!call->start(hook_type, wire)) {
    delete call;
    request.reply_locally(LocalReplyCause::ServiceUnavailable,
                          "too many plugin calls in flight (max_in_flight)");
    return FilterStatus::kStop;
  }
  request.set_pending(call);
  return FilterStatus::kStop;
}

// The body for a hook: false after answering (too large under on_error = deny) or
// when waiting (|*wait|); true with |*body| (empty for gRPC streams) otherwise.
bool hook_body(PluginContext& ctx, FilterCallbacks& request, bool* wait, bool* whole,
               std::string* body, bool* skip) {
  *wait = false;
  *whole = false;
  *skip = false;
  if (request.wait_for_request_body(ctx.config->grpc_send_max_size)) {
    *wait = true;
    return false;
  }
  RequestBody state = request.request_body_state();
  if (state == RequestBody::kTooLarge) {
    ++ctx.shard->stats.body_too_large;
    if (ctx.config->on_error_allow) {
      ++ctx.shard->stats.failed_allowed;
      *skip = true;  // the hook cannot see it: passed on unchanged
      return true;
    }
    ++ctx.shard->stats.failed_denied;
    request.reply_locally(LocalReplyCause::PayloadTooLarge, kBodyTooLarge);
    return false;
  }
  if (state == RequestBody::kComplete) {
    *whole = true;
    *body = request.request_body();
  }
  return true;
}

class RequestHookCall final : public HookCall {
 public:
  RequestHookCall(PluginContext* ctx, FilterCallbacks* request, const ApiConfig* api,
                  int hook_type, const std::string* hook_name, bool body_whole,
                  std::string_view sent_body)
      : HookCall(ctx->client.get(), request),
        ctx_(ctx),
        api_(api),
        hook_type_(hook_type),
        hook_name_(hook_name),
        body_whole_(body_whole),
        sent_size_(sent_body.size()),
        sent_hash_(std::hash<std::string_view>()(sent_body)) {}

 protected:
  void handle(FilterCallbacks& request, PluginReply& reply) override {
    if (reply.status != GrpcCallStatus::kOk) {
      if (on_error_continues(*ctx_, request, *api_, hook_type_, *hook_name_, failure_text(reply))) {
        request.continue_request();
      }
      return;
    }
    const coprocess::Object& object = reply.object;
    if (!object.has_request()) {  // no change (Tyk would crash)
      request.continue_request();
      return;
    }
    const coprocess::MiniRequestObject& changes = object.request();
    if (changes.has_return_overrides() && changes.return_overrides().response_code() > 0) {
      const coprocess::ReturnOverrides& o = changes.return_overrides();
      if (o.response_code() >= 400 && !o.override_error()) {
        send_auth_failure_event(*ctx_, request, *api_,
                                o.response_error().empty() ? o.response_body() : o.response_error(),
                                request.identity().key_id);
      }
      std::string why;
      if (!send_override(*ctx_, request, o, &why) &&
          on_error_continues(*ctx_, request, *api_, hook_type_, *hook_name_, why)) {
        request.continue_request();
      }
      return;
    }
    // Tyk rebuilds the body from raw_body; unchanged bytes need no copy (the body
    // sent is not kept, only its size and hash).
    const std::string& returned = changes.raw_body();
    bool replace = body_whole_ && (returned.size() != sent_size_ ||
                                   std::hash<std::string_view>()(returned) != sent_hash_);
    std::string body;
    std::string error;
    if (!apply_request_changes(changes, request.request(), &body, replace, &error)) {
      if (on_error_continues(*ctx_, request, *api_, hook_type_, *hook_name_, error)) {
        request.continue_request();
      }
      return;
    }
    if (replace) request.replace_request_body(std::move(body));
    request.continue_request();
  }

 private:
  PluginContext* ctx_;
  const ApiConfig* api_;
  int hook_type_;
  const std::string* hook_name_;
  bool body_whole_;
  size_t sent_size_;
  size_t sent_hash_;
};

class AuthHookCall final : public HookCall {
 public:
  AuthHookCall(PluginContext* ctx, FilterCallbacks* request, CustomAuthFilter* filter,
               bool cacheable, const KeyDigest& credential)
      : HookCall(ctx->client.get(), request),
        filter_(filter),
        cacheable_(cacheable),
        credential_(credential) {}

 protected:
  void handle(FilterCallbacks& request, PluginReply& reply) override {
    if (filter_->on_reply(request, reply, cacheable_ ? &credential_ : nullptr)) {
      request.continue_request();
    }
  }

 private:
  CustomAuthFilter* filter_;
  bool cacheable_;
  KeyDigest credential_;
};

class ResponseHookCall final : public HookCall {
 public:
  ResponseHookCall(PluginContext* ctx, FilterCallbacks* request, const ApiConfig* api,
                   const std::string* hook_name, HeldResponse* response,
                   std::map<std::string, std::string> sent_headers)
      : HookCall(ctx->client.get(), request),
        ctx_(ctx),
        api_(api),
        hook_name_(hook_name),
        response_(response),
        sent_headers_(std::move(sent_headers)) {}

 protected:
  void handle(FilterCallbacks& request, PluginReply& reply) override {
    if (reply.status != GrpcCallStatus::kOk || !reply.object.has_response()) {
      std::string what = reply.status != GrpcCallStatus::kOk
                             ? failure_text(reply)
                             : std::string("the reply has no response object");
      if (on_error_continues(*ctx_, request, *api_, coprocess::Response, *hook_name_, what)) {
        request.continue_response();
      }
      return;
    }
    std::string why;
    if (!apply(reply.object.response(), request.is_grpc(), &why)) {
      if (on_error_continues(*ctx_, request, *api_, coprocess::Response, *hook_name_, why)) {
        request.continue_response();
      }
      return;
    }
    request.continue_response();
  }

 private:
  // Tyk's order (COPROCESS.md §2.5): the headers from multivalue_headers, the
  // single-value map's changes synced over them, the body from raw_body, the status.
  // False (nothing changed) when the result could not go on the wire. A gRPC
  // stream keeps its status, content-type and grpc-* headers (its client would
  // report anything else as a broken call).
  bool apply(const coprocess::ResponseObject& r, bool grpc, std::string* why) {
    HeaderList headers;
    auto hop = [grpc](std::string_view n) {
      return n == "content-length" || n == "transfer-encoding" || n == "connection" ||
             n == "keep-alive" ||
             (grpc && (n == "content-type" || n.substr(0, 5) == "grpc-"));
    };
    for (const coprocess::Header& h : r.multivalue_headers()) {
      std::string n = to_lower(h.key());
      if (hop(n)) continue;
      for (const std::string& v : h.values()) headers.push_back({n, v});
    }
    for (const auto& [name, value] : r.headers()) {
      auto sent = sent_headers_.find(name);
      bool from_multivalue = r.multivalue_headers_size() > 0;
      if (from_multivalue && sent != sent_headers_.end() && sent->second == value) continue;
      std::string n = to_lower(name);
      if (hop(n)) continue;
      bool replaced = false;
      for (Header& h : headers) {
        if (h.name.view() == n) {
          h.value = value;
          replaced = true;
          break;
        }
      }
      if (!replaced) headers.push_back({n, value});
    }
    for (const auto& [name, value] : sent_headers_) {
      (void)value;
      if (r.headers().count(name) == 0 && !hop(to_lower(name))) remove_headers(headers, to_lower(name));
    }
    if (!headers_are_valid(headers, why)) return false;
    if (grpc) {
      for (const Header& h : response_->head.headers) {
        if (hop(h.name.view())) headers.push_back(h);  // kept as the upstream sent them
      }
    }
    response_->head.headers = std::move(headers);
    if (response_->body_whole) response_->body = r.raw_body();
    // Tyk writes whatever comes back; a status no client accepts as final (0, 1xx,
    // 600+) keeps the upstream's.
    if (!grpc && is_final_status(r.status_code())) response_->head.status = r.status_code();
    return true;
  }

  PluginContext* ctx_;
  const ApiConfig* api_;
  const std::string* hook_name_;
  HeldResponse* response_;
  std::map<std::string, std::string> sent_headers_;  // the single-value map as sent
};

}  // namespace

int grpc_status_for_http(int status) {
  switch (status) {
    case 400: return 13;  // INTERNAL
    case 401: return 16;  // UNAUTHENTICATED
    case 403: return 7;   // PERMISSION_DENIED
    case 404: return 12;  // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504: return 14;  // UNAVAILABLE
    default: return 2;    // UNKNOWN
  }
}

// Pre, PostKeyAuth, Post.

HookFilter::HookFilter(PluginContext* context, const ApiConfig& api, int hook_type,
                       std::string name)
    : context_(context),
      api_(&api),
      hook_type_(hook_type),
      hook_name_(std::move(name)),
      fixed_(fixed_part(api, hook_type, hook_name_)) {}

FilterStatus HookFilter::on_request(FilterCallbacks& request) {
  bool wait = false, whole = false, skip = false;
  std::string body;
  if (!hook_body(*context_, request, &wait, &whole, &body, &skip)) return FilterStatus::kStop;
  if (skip) return FilterStatus::kContinue;
  google::protobuf::Arena arena;
  auto* object = google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
  build_mini_request(request.request(), request.downstream().scheme(), body,
                     object->mutable_request());
  if (hook_type_ != coprocess::Pre) fill_session(request.identity(), object);
  std::string wire = serialise_call(*object, fixed_);
  if (!fits(*context_, wire)) {
    // Too large to send: the body-too-large policy (413 / passed on unseen).
    ++context_->shard->stats.body_too_large;
    if (context_->config->on_error_allow) {
      ++context_->shard->stats.failed_allowed;
      return FilterStatus::kContinue;
    }
    ++context_->shard->stats.failed_denied;
    request.reply_locally(LocalReplyCause::PayloadTooLarge, kBodyTooLarge);
    return FilterStatus::kStop;
  }
  auto* call = new RequestHookCall(context_, &request, api_, hook_type_, &hook_name_, whole, body);
  return dispatch(request, call, hook_type_, wire);
}

// CustomKeyCheck.

CustomAuthFilter::CustomAuthFilter(PluginContext* context, const ApiConfig& api)
    : context_(context),
      api_(&api),
      fixed_(fixed_part(api, coprocess::CustomKeyCheck, api.auth_check)) {}

FilterStatus CustomAuthFilter::on_request(FilterCallbacks& request) {
  AuthShard* auth = context_->shard->auth;
  if (!auth) {
    request.reply_locally(LocalReplyCause::AuthUnavailable, "the key store is not running");
    return FilterStatus::kStop;
  }
  // The ID the plugin's answer is cached under (Tyk's header ID extractor): this
  // API's auth_header, salted, with the API and the hook (another API's plugin may
  // answer differently for the same value).
  const Header* id = find_header(request.request().headers, api_->auth_header);
  bool cacheable = id && !id->value.empty();
  KeyDigest credential{};
  if (cacheable) {
    const KeyDigest& salt = auth->credential_salt;
    credential = sha256({std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
                         "c", api_->name, std::string_view("\0", 1), api_->auth_check,
                         std::string_view("\0", 1), id->value.view()});
    if (const AuthEntry* entry = auth->resolver->cache().find(credential, auth->loop->now_ms())) {
      ++context_->shard->stats.auth_cache_hits;
      AuthEntry copy = *entry;  // the cache may change under admit (rate/quota do not, but)
      return admit(request, copy, copy.key_id) ? FilterStatus::kContinue : FilterStatus::kStop;
    }
  }
  bool wait = false, whole = false, skip = false;
  std::string body;
  // (false: waiting for the body, or answered 413)
  if (!hook_body(*context_, request, &wait, &whole, &body, &skip)) return FilterStatus::kStop;
  if (skip) {
    // on_error = allow never lets an unauthenticated request through.
    ++context_->shard->stats.auth_failures;
    request.reply_locally(LocalReplyCause::PayloadTooLarge, kBodyTooLarge);
    return FilterStatus::kStop;
  }
  google::protobuf::Arena arena;
  auto* object = google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
  build_mini_request(request.request(), request.downstream().scheme(), body,
                     object->mutable_request());
  std::string wire = serialise_call(*object, fixed_);
  if (!fits(*context_, wire)) {
    ++context_->shard->stats.body_too_large;
    ++context_->shard->stats.auth_failures;
    request.reply_locally(LocalReplyCause::PayloadTooLarge, kBodyTooLarge);
    return FilterStatus::kStop;
  }
  auto* call = new AuthHookCall(context_, &request, this, cacheable, credential);
  return dispatch(request, call, coprocess::CustomKeyCheck, wire);
}

bool CustomAuthFilter::on_reply(FilterCallbacks& request, PluginReply& reply,
                                const KeyDigest* credential) {
  PluginShard& shard = *context_->shard;
  auto refuse = [&](LocalReplyCause cause, std::string_view message) {
    ++shard.stats.auth_failures;
    send_auth_failure_event(*context_, request, *api_, message, "");
    request.reply_locally(cause, message);
    return false;
  };
  if (reply.status != GrpcCallStatus::kOk) {
    // Fails closed whatever on_error says: 403 "Key not authorised" (Tyk's answer).
    ++shard.stats.failed_denied;
    log_failure(shard, *api_, coprocess::CustomKeyCheck, api_->auth_check, failure_text(reply),
                "answered 403");
    return refuse(LocalReplyCause::Forbidden, kKeyNotAuthorised);
  }
  const coprocess::Object& object = reply.object;
  if (object.has_request() && object.request().has_return_overrides() &&
      object.request().return_overrides().response_code() > 0) {
    const coprocess::ReturnOverrides& o = object.request().return_overrides();
    if (o.response_code() >= 400) {
      ++shard.stats.auth_failures;
      send_auth_failure_event(*context_, request, *api_,
                              o.response_error().empty() ? o.response_body() : o.response_error(),
                              "");
    }
    std::string why;
    if (!send_override(*context_, request, o, &why)) {
      // Fails closed.
      ++shard.stats.failed_denied;
      log_failure(shard, *api_, coprocess::CustomKeyCheck, api_->auth_check, why, "answered 403");
      request.reply_locally(LocalReplyCause::Forbidden, kKeyNotAuthorised);
    }
    return false;
  }
  // Success needs a session and a token (the object's metadata, else the session's).
  std::string token;
  if (auto it = object.metadata().find("token"); it != object.metadata().end()) token = it->second;
  if (token.empty() && object.has_session()) {
    auto it = object.session().metadata().find("token");
    if (it != object.session().metadata().end()) token = it->second;
  }
  if (!object.has_session() || token.empty()) {
    return refuse(LocalReplyCause::Forbidden, "Forbidden");
  }
  if (object.has_request()) {
    std::string unused;
    std::string error;
    if (!apply_request_changes(object.request(), request.request(), &unused, false, &error)) {
      ++shard.stats.failed_denied;
      log_failure(shard, *api_, coprocess::CustomKeyCheck, api_->auth_check, error, "answered 500");
      request.reply_locally(LocalReplyCause::PluginFailed, kMiddlewareError);
      return false;
    }
  }
  auto session = std::make_shared<SessionState>();
  from_coprocess_session(object.session(), session.get());
  session->org_id = api_->org_id;  // as Tyk: the API's organisation
  AuthEntry entry;
  entry.subject = key_digest(token);
  entry.key_id = token;
  entry.session = session;
  // Cached only when the plugin says until when (id_extractor_deadline), never past
  // the key's own expiry nor cache_ttl_ms (so a revoke elsewhere is seen in time).
  int64_t deadline = object.session().id_extractor_deadline();
  int64_t now_unix = time(nullptr);
  if (credential && deadline > now_unix) {
    int64_t until = deadline;
    if (session->expires > 0 && session->expires < until) until = session->expires;
    if (until > now_unix) {
      uint64_t now_ms = shard.auth->loop->now_ms();
      shard.auth->resolver->cache().insert(*credential, entry, now_ms,
                                           now_ms + static_cast<uint64_t>(until - now_unix) * 1000);
    }
  }
  if (shard.sessions) {
    uint64_t now_ms = shard.loop->now_ms();
    uint64_t ttl = shard.auth->resolver->cache().ttl_ms();
    auto it = shard.stored_sessions.find(entry.subject);
    if (it == shard.stored_sessions.end() || now_ms - it->second >= ttl) {
      if (shard.stored_sessions.size() >= kMaxStoredSessions) shard.stored_sessions.clear();
      shard.stored_sessions[entry.subject] = now_ms;
      shard.sessions->store_session(token, *session);
    }
  }
  return admit(request, entry, token);
}

bool CustomAuthFilter::admit(FilterCallbacks& request, const AuthEntry& entry,
                             std::string key_id) {
  if (!admit_session(*context_->shard->auth, request, *api_, entry)) return false;
  request.identity().session = entry.session;
  request.identity().key_id = std::move(key_id);
  return true;
}

// Response.

ResponseHookFilter::ResponseHookFilter(PluginContext* context, const ApiConfig& api,
                                       std::string name)
    : context_(context),
      api_(&api),
      hook_name_(std::move(name)),
      fixed_(fixed_part(api, coprocess::Response, hook_name_)) {}

uint64_t ResponseHookFilter::held_body_limit() const {
  return context_->config->grpc_send_max_size;
}

FilterStatus ResponseHookFilter::on_held_response(FilterCallbacks& request,
                                                  HeldResponse& response) {
  PluginShard& shard = *context_->shard;
  if (response.body_too_large) {
    ++shard.stats.body_too_large;
    std::string what = "response body is larger than grpc_send_max_size";  // (as held)
    return on_error_continues(*context_, request, *api_, coprocess::Response, hook_name_, what)
               ? FilterStatus::kContinue
               : FilterStatus::kStop;
  }
  google::protobuf::Arena arena;
  auto* object = google::protobuf::Arena::CreateMessage<coprocess::Object>(&arena);
  build_mini_request(request.request(), request.downstream().scheme(), std::string_view(),
                     object->mutable_request());
  fill_session(request.identity(), object);
  coprocess::ResponseObject* r = object->mutable_response();
  r->set_status_code(response.head.status);
  if (response.body_whole) {
    r->set_raw_body(response.body);
    if (is_valid_utf8(response.body)) r->set_body(response.body);
  }
  std::map<std::string, std::string> sent;
  std::map<std::string, coprocess::Header*> multi;
  for (const Header& h : response.head.headers) {
    std::string key = canonical_header_key(h.name.view());
    sent.try_emplace(key, h.value.str());
    coprocess::Header*& m = multi[key];
    if (!m) {
      m = r->add_multivalue_headers();
      m->set_key(key);
    }
    m->add_values(h.value.str());
  }
  for (const auto& [k, v] : sent) (*r->mutable_headers())[k] = v;
  std::string wire = serialise_call(*object, fixed_);
  if (!fits(*context_, wire)) {
    ++shard.stats.body_too_large;
    return on_error_continues(*context_, request, *api_, coprocess::Response, hook_name_,
                              "the response is larger than grpc_send_max_size")
               ? FilterStatus::kContinue
               : FilterStatus::kStop;
  }
  auto* call = new ResponseHookCall(context_, &request, api_, &hook_name_, &response,
                                    std::move(sent));
  return dispatch(request, call, coprocess::Response, wire);
}

}  // namespace ringway
