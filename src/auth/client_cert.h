#pragma once
// What a downstream TLS connection learned about the client's certificate, and the
// mutual-TLS decision for an API (use_mutual_tls_auth, client_certificates).

#include <string>

#include "config/config.h"

namespace ringway {

enum class ClientCertState : uint8_t {
  kNone,        // cleartext connection, or no certificate sent
  kVerified,    // chain verified against [tls] client_ca_file
  kUnverified,  // sent but did not verify (wrong CA, expired, ...)
};

struct ClientCert {
  ClientCertState state = ClientCertState::kNone;
  std::string sha256;        // lower-case hex of the DER certificate
  std::string subject;       // RFC 2253
  std::string verify_error;  // why it did not verify
};

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

}  // namespace ringway
