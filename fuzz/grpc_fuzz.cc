// The grpc-timeout header value (grpc/grpc_timeout.h). Invariants (a violation
// traps): a value parses iff it is 1 to 8 ASCII digits and one of H M S m u n, to the
// exact millisecond count (sub-millisecond values rounded up); format_grpc_timeout()
// of any timeout the gateway can hold (up to 99999999 hours) is a valid value that
// parses back to at least that timeout, exactly when it is below 10^8 ms, and never
// more than one unit of its coarsest encoding above it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "grpc/grpc_timeout.h"

using namespace ringway;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr uint64_t kMaxDigits = 99999999;
constexpr uint64_t kMaxMs = kMaxDigits * 3600000;  // 99999999H

std::optional<uint64_t> reference_parse(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  switch (v.back()) {
    case 'H': return n * 3600000;
    case 'M': return n * 60000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return n / 1000 + (n % 1000 != 0);
    case 'n': return n / 1000000 + (n % 1000000 != 0);
    default: return std::nullopt;
  }
}

void check_format(uint64_t ms) {
  std::string text = format_grpc_timeout(ms);
  std::optional<uint64_t> back = parse_grpc_timeout_ms(text);
  check(back.has_value());
  check(*back >= ms);
  if (ms <= kMaxDigits) check(*back == ms && text.back() == 'm');
  uint64_t unit = 1;
  switch (text.back()) {
    case 'S': unit = 1000; break;
    case 'M': unit = 60000; break;
    case 'H': unit = 3600000; break;
  }
  check(*back - ms < unit);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64) return -1;
  std::string_view value(reinterpret_cast<const char*>(data), size);
  std::optional<uint64_t> got = parse_grpc_timeout_ms(value);
  check(got == reference_parse(value));
  if (got) check_format(*got);
  if (size >= 8) {
    uint64_t ms = 0;
    std::memcpy(&ms, data, 8);
    check_format(ms % (kMaxMs + 1));
  }
  return 0;
}
