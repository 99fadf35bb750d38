#pragma once
// The grpc-timeout request header (gRPC over HTTP/2 spec): 1 to 8 ASCII digits then a
// unit: H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringway {

// The timeout in milliseconds (sub-millisecond values round up to 1 ms, so a tiny
// positive timeout is never treated as none). nullopt for a malformed value.
std::optional<uint64_t> parse_grpc_timeout_ms(std::string_view value);

// The shortest exact encoding for |ms| milliseconds that fits the 8-digit limit
// ("250m", "90S" would be inexact so it stays "90000m"; large values fall back to
// seconds, minutes or hours rounded up).
std::string format_grpc_timeout(uint64_t ms);

}  // namespace ringway
