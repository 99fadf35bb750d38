#pragma once
// Replies the gateway makes itself (DESIGN.md §5). A gRPC request gets a
// trailers-only response (HTTP 200, content-type application/grpc, grpc-status,
// grpc-message in the one HEADERS block); anything else gets the HTTP status with a
// small JSON body {"error": "..."}.

#include <string>
#include <string_view>

#include "http/message.h"

namespace ringway {

enum class LocalReplyCause : uint8_t {
  NoRoute,              // 404 / 12 UNIMPLEMENTED
  Unauthenticated,      // 401 / 16
  Forbidden,            // 403 / 7
  PluginFailed,         // 500 / 13
  UpstreamUnavailable,  // 502 / 14  (refused, reset, unreachable)
  UpstreamOverloaded,   // 503 / 14  (no capacity: pool or stream limit reached)
  UpstreamTimeout,      // 504 / 4
  BadRequest,           // 400 / 13
  PayloadTooLarge,      // 413 / 13
  HeadersTooLarge,      // 431 / 13
  RequestTimeout,       // 408 / 4  (client too slow sending its request head)
  ServiceUnavailable,   // 503 / 14 (gateway draining or at its connection limit)
};

struct LocalReply {
  ResponseHead head;  // status, content-type, content-length (JSON) or grpc-* headers
  std::string body;   // JSON body; empty for gRPC
};

int local_reply_http_status(LocalReplyCause cause);
int local_reply_grpc_status(LocalReplyCause cause);

// |message| is a short human-readable reason ("no API matches /x"). For gRPC it is
// percent-encoded into grpc-message as the gRPC spec requires; for JSON it is escaped.
LocalReply make_local_reply(LocalReplyCause cause, std::string_view message, bool grpc);

// Percent-encodes a grpc-message value (bytes outside 0x20..0x7e and '%').
std::string grpc_percent_encode(std::string_view message);

}  // namespace ringway
