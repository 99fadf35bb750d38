#include "store/password.h"

#include <crypt.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "tls/crypto.h"

namespace ringway {
namespace {

// bcrypt reads at most 72 bytes. Like Go's bcrypt (Tyk's), hashing refuses a longer
// password (it would silently lose its tail) while verifying compares the first 72
// bytes, so hashes made elsewhere (htpasswd, mkpasswd) of long passwords still match.
constexpr size_t kMaxPasswordBytes = 72;

bool bcrypt_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '/';
}

// crypt_data is ~32 KiB: on the heap, not the bcrypt worker's stack; wiped after as
// it held the password.
struct CryptData {
  crypt_data data{};
  ~CryptData() { secure_zero(&data, sizeof(data)); }
};

}  // namespace

bool is_bcrypt_hash(std::string_view hash) {
  // "$2b$" + two-digit cost + "$" + 22 salt chars + 31 hash chars = 60 bytes.
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' ||
      (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') || hash[3] != '$' ||
      hash[6] != '$') {
    return false;
  }
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') return false;
  int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return false;
  for (size_t i = 7; i < hash.size(); ++i) {
    if (!bcrypt_char(hash[i])) return false;
  }
  return true;
}

std::string bcrypt_hash(std::string_view password, int cost, std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  if (cost < 4 || cost > 31) {
    *error = "bcrypt cost " + std::to_string(cost) + " is outside 4..31";
    return "";
  }
  if (password.find('\0') != std::string_view::npos) {
    *error = "password contains a NUL byte";
    return "";
  }
  if (password.size() > kMaxPasswordBytes) {
    *error = "password is longer than bcrypt's 72 bytes";
    return "";
  }
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // No random bytes given: libxcrypt reads them from the OS.
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                       sizeof(setting)) == nullptr) {
    *error = std::string("crypt_gensalt_rn: ") + strerror(errno);
    return "";
  }
  auto data = std::make_unique<CryptData>();
  std::string phrase(password);
  const char* hashed = crypt_rn(phrase.c_str(), setting, &data->data, sizeof(data->data));
  secure_zero(phrase.data(), phrase.size());
  if (hashed == nullptr || !is_bcrypt_hash(hashed)) {
    *error = std::string("crypt_rn: ") + (hashed == nullptr ? strerror(errno) : "bad output");
    return "";
  }
  return hashed;
}

bool bcrypt_verify(std::string_view password, std::string_view hash) {
  if (!is_bcrypt_hash(hash)) return false;
  if (password.find('\0') != std::string_view::npos) return false;
  auto data = std::make_unique<CryptData>();
  std::string phrase(password);
  std::string setting(hash);
  const char* hashed = crypt_rn(phrase.c_str(), setting.c_str(), &data->data, sizeof(data->data));
  secure_zero(phrase.data(), phrase.size());
  if (hashed == nullptr) return false;
  // Constant time over the whole hash; the lengths are public (always 60).
  return strlen(hashed) == hash.size() && constant_time_equal(hashed, hash.data(), hash.size());
}

}  // namespace ringway
