#include "grpc/grpc_timeout.h"

namespace ringway {

std::optional<uint64_t> parse_grpc_timeout_ms(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (size_t i = 0; i + 1 < value.size(); ++i) {
    char c = value[i];
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  switch (value.back()) {
    case 'H': return n * 3600000;
    case 'M': return n * 60000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return (n + 999) / 1000;
    case 'n': return (n + 999999) / 1000000;
    default: return std::nullopt;
  }
}

std::string format_grpc_timeout(uint64_t ms) {
  constexpr uint64_t kMax = 99999999;  // 8 digits
  if (ms <= kMax) return std::to_string(ms) + "m";
  uint64_t s = (ms + 999) / 1000;
  if (s <= kMax) return std::to_string(s) + "S";
  uint64_t m = (s + 59) / 60;
  if (m <= kMax) return std::to_string(m) + "M";
  uint64_t h = (m + 59) / 60;
  if (h > kMax) h = kMax;
  return std::to_string(h) + "H";
}

}  // namespace ringway
