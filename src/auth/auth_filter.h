#pragma once
// Basic and token authentication (Tyk's use_basic_auth and use_standard_auth) as a
// request filter: reads the credential, decides from the shard's cache when it can,
// otherwise waits for the key store (the request stops; the shard goes on serving).
// Then, as Tyk does and in its order: the key's expiry and is_inactive, its
// access_rights for this API, its rate limit and its quota. The credential header is
// removed before the request goes upstream unless strip_auth_data = false.
//
// Replies (Tyk's codes and messages; gRPC clients get the grpc-status in brackets):
//   no credential                 401 "Authorization field missing"            (16)
//   malformed Basic header        400 "Attempted access with malformed header, ..." (16)
//   unknown key                   403 "Access to this API has been disallowed" (16)
//   unknown user, wrong password  401 "User not authorised"                    (16)
//   expired key                   401 "Key has expired, please renew"          (16)
//   inactive key                  403 "Key is inactive, please renew"          (7)
//   API not in access_rights      403 "Access to this API has been disallowed" (7)
//   rate limit                    429 "Rate limit exceeded" + X-RateLimit-*    (8)
//   quota                         403 "Quota exceeded"                         (8)
//   store unavailable / too busy  503                                          (14)
// Basic-auth 401s carry WWW-Authenticate: Basic realm="<API id>".

#include <cstdint>
#include <string>

#include "auth/key_resolver.h"
#include "auth/quota_tracker.h"
#include "auth/rate_limiter.h"
#include "filter/filter.h"

namespace ringway {

class Loop;

struct AuthFilterStats {
  uint64_t allowed = 0;
  uint64_t denied = 0;
  uint64_t waited = 0;  // requests that waited for the store
};

// The per-shard state authentication filters share, owned by the shard.
struct AuthShard {
  Loop* loop = nullptr;
  KeyResolver* resolver = nullptr;
  RateLimiter* rate_limiter = nullptr;
  QuotaTracker* quotas = nullptr;
  // Cache entries are indexed by a digest of this secret and the credential: for
  // Basic auth the cache then holds nothing a password could be recovered from
  // quickly, and for either no client can choose credentials that collide in the
  // cache's hash table (its index is the digest's first bytes).
  KeyDigest credential_salt{};
  AuthFilterStats stats;
};

enum class KeyAuthMode : uint8_t { kBasic, kToken };

class KeyAuthFilter final : public RequestFilter {
 public:
  KeyAuthFilter(AuthShard* shard, KeyAuthMode mode, const ApiConfig& api);
  const char* name() const override { return mode_ == KeyAuthMode::kBasic ? "basic" : "token"; }
  FilterStatus on_request(FilterCallbacks& request) override;

  // A lookup this filter waited for came back.
  void resume(FilterCallbacks& request, const AuthEntry& entry);

 private:
  // Applies |entry| to the request: true to let it through (credential stripped),
  // false after answering it.
  bool admit(FilterCallbacks& request, const AuthEntry& entry);
  void deny(FilterCallbacks& request, LocalReplyCause cause, std::string_view message,
            const HeaderList* headers = nullptr);
  void unauthorised(FilterCallbacks& request, std::string_view message);

  AuthShard* shard_;
  KeyAuthMode mode_;
  const ApiConfig* api_;
  std::string header_;  // lower-case
  HeaderList www_authenticate_;  // Basic's 401 header
};

// What every authentication does once it has a session (Tyk's order): inactive,
// expired, access_rights for |api|, rate limit, quota. False after answering the
// request with the reason. |unauthorised_headers| go with a 401 (Basic's
// WWW-Authenticate).
bool admit_session(AuthShard& shard, FilterCallbacks& request, const ApiConfig& api,
                   const AuthEntry& entry, const HeaderList* unauthorised_headers = nullptr);

// The digests cache entries are indexed by.
KeyDigest basic_credential_digest(const KeyDigest& salt, std::string_view user,
                                  std::string_view password);
KeyDigest token_credential_digest(const KeyDigest& salt, std::string_view token);

}  // namespace ringway
