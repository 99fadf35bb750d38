#include "tls/ticket_key_schedule.h"

#include <cstdlib>

// BoringSSL's stack.h trips -Wignored-qualifiers in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#pragma GCC diagnostic pop

namespace ringway {
namespace {
constexpr size_t kKeyBytes = 80;
constexpr char kLabel[] = "ringway ticket key";
}  // namespace

TicketKeySchedule::TicketKeySchedule(std::string master, uint32_t period_s)
    : master_(std::move(master)), period_ms_(static_cast<uint64_t>(period_s) * 1000u) {
  if (period_ms_ == 0 || master_.size() < 32) std::abort();
}

std::string TicketKeySchedule::random_master() {
  std::string master(32, '\0');
  if (RAND_bytes(reinterpret_cast<uint8_t*>(master.data()), master.size()) != 1) std::abort();
  return master;
}

uint64_t TicketKeySchedule::ms_until_next_period(uint64_t now_ms) const {
  return period_ms_ - now_ms % period_ms_;
}

std::string TicketKeySchedule::key(uint64_t e) const {
  std::string out;
  for (uint8_t block = 0; out.size() < kKeyBytes; ++block) {
    uint8_t input[sizeof(kLabel) - 1 + 8 + 1];
    size_t n = 0;
    for (size_t i = 0; i + 1 < sizeof(kLabel); ++i) input[n++] = static_cast<uint8_t>(kLabel[i]);
    for (int shift = 56; shift >= 0; shift -= 8) input[n++] = static_cast<uint8_t>(e >> shift);
    input[n++] = block;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (HMAC(EVP_sha256(), master_.data(), master_.size(), input, n, mac, &mac_len) == nullptr) {
      std::abort();
    }
    out.append(reinterpret_cast<const char*>(mac), mac_len);
  }
  out.resize(kKeyBytes);
  return out;
}

std::vector<std::string> TicketKeySchedule::keys_for_period(uint64_t e) const {
  std::vector<std::string> keys;
  keys.push_back(key(e));
  if (e > 0) keys.push_back(key(e - 1));
  keys.push_back(key(e + 1));
  return keys;
}

}  // namespace ringway
