#include "tls/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace ringway {
namespace {

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

}  // namespace

Sha256Digest sha256(std::initializer_list<std::string_view> parts) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (std::string_view p : parts) SHA256_Update(&ctx, p.data(), p.size());
  Sha256Digest out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

bool random_bytes(void* out, size_t n) {
  return RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(n)) == 1;
}

bool base64_decode(std::string_view in, uint8_t* out, size_t max_out, size_t* out_len) {
  // The shape is checked here so both libraries accept exactly the same inputs
  // (OpenSSL's EVP_DecodeBlock skips whitespace and reads '=' anywhere).
  if (in.size() % 4 != 0 || in.size() / 4 * 3 > max_out) return false;
  *out_len = 0;
  if (in.empty()) return true;
  size_t padding = 0;
  while (padding < 2 && in[in.size() - 1 - padding] == '=') ++padding;
  for (size_t i = 0; i < in.size() - padding; ++i) {
    if (!is_base64_char(in[i])) return false;
  }
  int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0 || static_cast<size_t>(n) < padding) return false;
  *out_len = static_cast<size_t>(n) - padding;  // EVP_DecodeBlock counts padding as zeros
  return true;
}

bool constant_time_equal(const void* a, const void* b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

void secure_zero(void* p, size_t n) { OPENSSL_cleanse(p, n); }

}  // namespace ringway
