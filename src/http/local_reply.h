#pragma once
// Replies the gateway makes itself (DESIGN.md §5). A gRPC request gets a
// trailers-only response (HTTP 200, content-type application/grpc, grpc-status,
// grpc-message in the one HEADERS block); anything else gets the HTTP status with a
// small JSON body {"error": "..."}.
//
// Each cause also has a short flag for the access log (modelled on Envoy's response
// flags: NR, UF, UT, DC, ...) and a label for /metrics.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace ringway {

enum class LocalReplyCause : uint8_t {
  NoRoute,                // 404 / 12 UNIMPLEMENTED                     NR
  Unauthenticated,        // 401 / 16 UNAUTHENTICATED                   UA
  Forbidden,              // 403 / 7 PERMISSION_DENIED                  PD
  PluginFailed,           // 500 / 13 INTERNAL                          PF
  UpstreamConnectFailure, // 502 / 14 UNAVAILABLE: refused, unreachable, UF
                          // or backing off after such failures
  UpstreamReset,          // 502 / 14: closed or reset before the reply UR
  UpstreamProtocolError,  // 502 / 14: an invalid response              UPE
  UpstreamOverloaded,     // 503 / 14: no capacity                      UO
  UpstreamTimeout,        // 504 / 4 DEADLINE_EXCEEDED                  UT
  DeadlineExceeded,       // 504 / 4: the gRPC call's grpc-timeout      DE
  BadRequest,             // 400 / 13                                   DPE
  PayloadTooLarge,        // 413 / 13                                   TL
  HeadersTooLarge,        // 431 / 13                                   TL
  RequestTimeout,         // 408 / 4: request head too slow             RT
  ServiceUnavailable,     // 503 / 14: draining or at a gateway limit   SD
  KeyRejected,            // 403 / 16: unknown key (Tyk answers 403)    UA
  MalformedCredentials,   // 400 / 16: an unreadable Basic header       UA
  RateLimited,            // 429 / 8 RESOURCE_EXHAUSTED                 RL
  QuotaExceeded,          // 403 / 8                                    QE
  AuthUnavailable,        // 503 / 14: key store or bcrypt at a limit   AU
  RequestBodyTooLarge,    // 413 / 8: over max_request_body_bytes       TL
  UriTooLong,             // 414 / 13: the target alone over the head limit TL
  kCount,
};
inline constexpr size_t kLocalReplyCauseCount = static_cast<size_t>(LocalReplyCause::kCount);

struct LocalReply {
  ResponseHead head;  // status, content-type, content-length (JSON) or grpc-* headers
  std::string body;   // JSON body; empty for gRPC
};

int local_reply_http_status(LocalReplyCause cause);
int local_reply_grpc_status(LocalReplyCause cause);
// Access-log flag ("NR", "UF", ...).
const char* local_reply_flag(LocalReplyCause cause);
// Metric label value ("no_route", "upstream_connect_failure", ...).
const char* local_reply_label(LocalReplyCause cause);

// Local replies counted by cause.
struct LocalReplyCounts {
  std::array<uint64_t, kLocalReplyCauseCount> by_cause{};
  void add(LocalReplyCause cause) { ++by_cause[static_cast<size_t>(cause)]; }
};

// |message| is a short human-readable reason ("no API matches /x"). For gRPC it is
// percent-encoded into grpc-message as the gRPC spec requires; for JSON it is escaped.
// |extra| headers (WWW-Authenticate, X-RateLimit-*) are added to the head.
LocalReply make_local_reply(LocalReplyCause cause, std::string_view message, bool grpc,
                            const HeaderList* extra = nullptr);

// Percent-encodes a grpc-message value (bytes outside 0x20..0x7e and '%').
std::string grpc_percent_encode(std::string_view message);

// True when |text| is valid UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// Appends |text| as a JSON string literal (quotes included): control characters are
// escaped and invalid UTF-8 becomes U+FFFD, so any input yields valid JSON.
void append_json_string(std::string& out, std::string_view text);

}  // namespace ringway
