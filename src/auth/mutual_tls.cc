#include "auth/mutual_tls.h"

#include <algorithm>

namespace ringway {

MtlsVerdict check_mutual_tls(const ApiConfig& api, const ClientCert& cert) {
  switch (cert.state) {
    case ClientCertState::kNone:
      return {MtlsOutcome::kUnauthenticated, "a client certificate is required"};
    case ClientCertState::kUnverified:
      return {MtlsOutcome::kUnauthenticated, "the client certificate is not trusted"};
    case ClientCertState::kVerified:
      break;
  }
  if (!api.client_certificates.empty() &&
      std::find(api.client_certificates.begin(), api.client_certificates.end(), cert.sha256) ==
          api.client_certificates.end()) {
    return {MtlsOutcome::kForbidden, "the client certificate is not allowed for this API"};
  }
  return {MtlsOutcome::kAllow, ""};
}

}  // namespace ringway

namespace ringway {

FilterStatus MutualTlsFilter::on_request(FilterCallbacks& request) {
  static const ClientCert kNoCert;
  const ClientCert* cert = request.downstream().cert();
  MtlsVerdict verdict = check_mutual_tls(request.api(), cert ? *cert : kNoCert);
  if (verdict.outcome == MtlsOutcome::kAllow) return FilterStatus::kContinue;
  request.reply_locally(verdict.outcome == MtlsOutcome::kForbidden
                            ? LocalReplyCause::Forbidden
                            : LocalReplyCause::Unauthenticated,
                        verdict.reason);
  return FilterStatus::kStop;
}

}  // namespace ringway
