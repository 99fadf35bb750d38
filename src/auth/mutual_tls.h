#pragma once
// The mutual-TLS decision for an API (use_mutual_tls_auth, client_certificates), and
// the request filter that applies it.

#include "config/config.h"
#include "filter/filter.h"
#include "http/downstream.h"

namespace ringway {

enum class MtlsOutcome : uint8_t {
  kAllow,
  kUnauthenticated,  // no certificate or an untrusted one: 401 / grpc 16
  kForbidden,        // trusted, but not in client_certificates: 403 / grpc 7
};

struct MtlsVerdict {
  MtlsOutcome outcome = MtlsOutcome::kAllow;
  const char* reason = "";  // for the local reply's message
};

// Only meaningful for APIs with use_mutual_tls_auth.
MtlsVerdict check_mutual_tls(const ApiConfig& api, const ClientCert& cert);

// First filter of an mTLS API's chain: answers 401/403 (gRPC 16/7) unless the
// connection's verified client certificate is allowed. Never waits.
class MutualTlsFilter final : public RequestFilter {
 public:
  const char* name() const override { return "mutual_tls"; }
  FilterStatus on_request(FilterCallbacks& request) override;
};

}  // namespace ringway
