#include "auth/auth_filter.h"

#include <ctime>

#include "auth/credentials.h"
#include "io/loop.h"
#include "tls/crypto.h"

namespace ringway {
namespace {

constexpr char kFieldMissing[] = "Authorization field missing";
constexpr char kDisallowed[] = "Access to this API has been disallowed";
constexpr char kUserNotAuthorised[] = "User not authorised";

// A request waiting for the store: cancelled with its request, or called back once.
class AuthWait final : public PendingOperation, public KeyResolver::Waiter {
 public:
  AuthWait(KeyAuthFilter* filter, FilterCallbacks* request, KeyResolver* resolver,
           const KeyDigest& credential)
      : filter_(filter), request_(request), resolver_(resolver), credential_(credential) {}

  void cancel() override {
    resolver_->cancel(credential_, this);
    delete this;
  }
  void on_resolved(const AuthEntry& entry) override {
    KeyAuthFilter* filter = filter_;
    FilterCallbacks* request = request_;
    delete this;
    request->set_pending(nullptr);
    filter->resume(*request, entry);
  }
  void on_unavailable(const char* why) override {
    FilterCallbacks* request = request_;
    delete this;
    request->reply_locally(LocalReplyCause::AuthUnavailable, why);
  }

 private:
  KeyAuthFilter* filter_;
  FilterCallbacks* request_;
  KeyResolver* resolver_;
  KeyDigest credential_;
};

}  // namespace

KeyDigest basic_credential_digest(const KeyDigest& salt, std::string_view user,
                                  std::string_view password) {
  // The user name cannot hold a ':' (RFC 7617), so the separator keeps pairs apart.
  return sha256({std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
                 user, ":", password});
}

KeyDigest token_credential_digest(const KeyDigest& salt, std::string_view token) {
  // "t" keeps a token's digest apart from any Basic one.
  return sha256({std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
                 "t", token});
}

KeyAuthFilter::KeyAuthFilter(AuthShard* shard, KeyAuthMode mode, const ApiConfig& api)
    : shard_(shard),
      mode_(mode),
      api_(&api),
      header_(mode == KeyAuthMode::kBasic ? std::string("authorization") : api.auth_header) {
  if (mode == KeyAuthMode::kBasic) {
    www_authenticate_.push_back({"www-authenticate", "Basic realm=\"" + api.name + "\""});
  }
}

void KeyAuthFilter::deny(FilterCallbacks& request, LocalReplyCause cause,
                         std::string_view message, const HeaderList* headers) {
  ++shard_->stats.denied;
  request.reply_locally(cause, message, headers);
}

void KeyAuthFilter::unauthorised(FilterCallbacks& request, std::string_view message) {
  deny(request, LocalReplyCause::Unauthenticated, message,
       mode_ == KeyAuthMode::kBasic ? &www_authenticate_ : nullptr);
}

FilterStatus KeyAuthFilter::on_request(FilterCallbacks& request) {
  const Header* header = find_header(request.request().headers, header_);
  if (!header || header->value.empty()) {
    unauthorised(request, kFieldMissing);
    return FilterStatus::kStop;
  }
  KeyDigest credential;
  BasicCredentials basic;
  std::string_view token;
  if (mode_ == KeyAuthMode::kBasic) {
    BasicParse parsed = parse_basic_authorization(header->value, &basic);
    if (parsed != BasicParse::kOk) {
      deny(request, LocalReplyCause::MalformedCredentials,
           std::string("Attempted access with malformed header, ") +
               basic_parse_message(parsed));
      return FilterStatus::kStop;
    }
    credential = basic_credential_digest(shard_->credential_salt, basic.user, basic.password);
  } else {
    token = extract_token(header->value);
    if (token.empty()) {
      unauthorised(request, kFieldMissing);
      return FilterStatus::kStop;
    }
    credential = token_credential_digest(shard_->credential_salt, token);
  }

  KeyResolver* resolver = shard_->resolver;
  if (const AuthEntry* entry = resolver->cache().find(credential, shard_->loop->now_ms())) {
    return admit(request, *entry) ? FilterStatus::kContinue : FilterStatus::kStop;
  }
  // A miss: the store decides (bcrypt for Basic); the request waits, the shard does not.
  // The store knows keys by the digest of the key (or user name).
  KeyDigest subject = key_digest(mode_ == KeyAuthMode::kBasic ? basic.user : token);
  auto* wait = new AuthWait(this, &request, resolver, credential);
  const char* why = "";
  if (!resolver->wait(credential, subject, mode_ == KeyAuthMode::kBasic, basic.password, wait,
                      &why)) {
    delete wait;
    deny(request, LocalReplyCause::AuthUnavailable, why);
    return FilterStatus::kStop;
  }
  ++shard_->stats.waited;
  request.set_pending(wait);
  return FilterStatus::kStop;
}

void KeyAuthFilter::resume(FilterCallbacks& request, const AuthEntry& entry) {
  if (admit(request, entry)) request.continue_request();
}

bool KeyAuthFilter::admit(FilterCallbacks& request, const AuthEntry& entry) {
  if (!entry.session) {
    if (mode_ == KeyAuthMode::kBasic) {
      unauthorised(request, kUserNotAuthorised);
    } else {
      deny(request, LocalReplyCause::KeyRejected, kDisallowed);
    }
    return false;
  }
  if (!admit_session(*shard_, request, *api_, entry,
                     mode_ == KeyAuthMode::kBasic ? &www_authenticate_ : nullptr)) {
    return false;
  }
  if (api_->has_plugin_hooks()) {
    request.identity().session = entry.session;
    // Plugins see the key (Tyk's session key_id): the token, or the Basic user.
    if (const Header* h = find_header(request.request().headers, header_)) {
      if (mode_ == KeyAuthMode::kToken) {
        request.identity().key_id = std::string(extract_token(h->value));
      } else {
        BasicCredentials basic;
        if (parse_basic_authorization(h->value, &basic) == BasicParse::kOk) {
          request.identity().key_id = std::string(basic.user);
        }
      }
    }
  }
  if (api_->strip_auth_data) remove_headers(request.request().headers, header_);
  return true;
}

bool admit_session(AuthShard& shard, FilterCallbacks& request, const ApiConfig& api,
                   const AuthEntry& entry, const HeaderList* unauthorised_headers) {
  auto deny = [&](LocalReplyCause cause, std::string_view message,
                  const HeaderList* headers = nullptr) {
    ++shard.stats.denied;
    request.reply_locally(cause, message, headers);
    return false;
  };
  const SessionState& session = *entry.session;
  int64_t now_unix = 0;
  if (session.expires > 0 || session.has_quota()) now_unix = time(nullptr);
  if (session.is_inactive) {
    return deny(LocalReplyCause::Forbidden, "Key is inactive, please renew");
  }
  if (session.expires > 0 && now_unix >= session.expires) {
    return deny(LocalReplyCause::Unauthenticated, "Key has expired, please renew",
                unauthorised_headers);
  }
  if (!session.grants(api.name)) return deny(LocalReplyCause::Forbidden, kDisallowed);
  if (session.has_rate_limit()) {
    RateDecision rd = shard.rate_limiter->check(entry.subject, session.rate, session.per,
                                                shard.loop->now_us());
    if (!rd.allowed) {
      HeaderList headers;
      headers.push_back({"x-ratelimit-limit", std::to_string(rd.limit)});
      headers.push_back({"x-ratelimit-remaining", std::to_string(rd.remaining)});
      headers.push_back({"x-ratelimit-reset", std::to_string(rd.reset_s)});
      return deny(LocalReplyCause::RateLimited, "Rate limit exceeded", &headers);
    }
  }
  if (session.has_quota() && !shard.quotas->take(entry.subject, session, now_unix)) {
    return deny(LocalReplyCause::QuotaExceeded, "Quota exceeded");
  }
  ++shard.stats.allowed;
  return true;
}

}  // namespace ringway
