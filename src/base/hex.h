#pragma once
// Hex digits, shared by the parsers of percent-escapes and hex digests.

namespace ringway {

// 0..15 for a hex digit (either case), -1 otherwise.
constexpr int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace ringway
