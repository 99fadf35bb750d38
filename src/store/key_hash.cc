#include "store/key_hash.h"

#include <cstdio>
#include <cstdlib>

#include "base/hex.h"
#include "tls/crypto.h"

namespace ringway {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string to_hex(const uint8_t* bytes, size_t size) {
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace

KeyDigest key_digest(std::string_view key) {
  return sha256({key});
}

std::string hash_key(std::string_view key) { return digest_hex(key_digest(key)); }

std::string digest_hex(const KeyDigest& digest) { return to_hex(digest.data(), digest.size()); }

bool parse_digest_hex(std::string_view hex, KeyDigest* out) {
  if (hex.size() != 2 * out->size()) return false;
  KeyDigest digest;
  for (size_t i = 0; i < digest.size(); ++i) {
    int hi = hex_digit_value(hex[2 * i]);
    int lo = hex_digit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    digest[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *out = digest;
  return true;
}

std::string generate_key(std::string_view org_id) {
  uint8_t random[16];
  if (!random_bytes(random, sizeof(random))) {
    // A key nobody can guess is the whole point; never hand out a weak one.
    fprintf(stderr, "ringway: the system random generator failed; cannot generate a key\n");
    abort();
  }
  std::string key(org_id);
  key += to_hex(random, sizeof(random));
  return key;
}

}  // namespace ringway
