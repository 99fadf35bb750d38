#include "auth/mutual_tls.h"

#include <string>

#include <gtest/gtest.h>

namespace ringway {
namespace {

const std::string kAllowed(64, 'a');
const std::string kOther(64, 'b');

ApiConfig mtls_api(std::vector<std::string> allowed = {}) {
  ApiConfig api;
  api.name = "secure";
  api.use_mutual_tls_auth = true;
  api.client_certificates = std::move(allowed);
  return api;
}

ClientCert cert(ClientCertState state, const std::string& sha256) {
  ClientCert c;
  c.state = state;
  c.sha256 = sha256;
  return c;
}

TEST(MutualTls, NoCertificateIsUnauthenticated) {
  EXPECT_EQ(check_mutual_tls(mtls_api(), ClientCert{}).outcome, MtlsOutcome::kUnauthenticated);
  EXPECT_EQ(check_mutual_tls(mtls_api({kAllowed}), ClientCert{}).outcome,
            MtlsOutcome::kUnauthenticated);
}

TEST(MutualTls, UntrustedCertificateIsUnauthenticatedEvenWhenListed) {
  // The fingerprint alone proves nothing: the chain must verify against the CA.
  MtlsVerdict v = check_mutual_tls(mtls_api({kAllowed}), cert(ClientCertState::kUnverified, kAllowed));
  EXPECT_EQ(v.outcome, MtlsOutcome::kUnauthenticated);
  EXPECT_STREQ(v.reason, "the client certificate is not trusted");
}

TEST(MutualTls, VerifiedCertificateWithoutAllowListIsAllowed) {
  EXPECT_EQ(check_mutual_tls(mtls_api(), cert(ClientCertState::kVerified, kOther)).outcome,
            MtlsOutcome::kAllow);
}

TEST(MutualTls, AllowListDecidesBetweenAllowAndForbidden) {
  ApiConfig api = mtls_api({kOther, kAllowed});
  EXPECT_EQ(check_mutual_tls(api, cert(ClientCertState::kVerified, kAllowed)).outcome,
            MtlsOutcome::kAllow);
  MtlsVerdict v = check_mutual_tls(mtls_api({kAllowed}), cert(ClientCertState::kVerified, kOther));
  EXPECT_EQ(v.outcome, MtlsOutcome::kForbidden);
  EXPECT_STREQ(v.reason, "the client certificate is not allowed for this API");
  // An empty fingerprint (no certificate digest) never matches.
  EXPECT_EQ(check_mutual_tls(api, cert(ClientCertState::kVerified, "")).outcome,
            MtlsOutcome::kForbidden);
}

}  // namespace
}  // namespace ringway
