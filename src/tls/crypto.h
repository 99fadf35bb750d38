#pragma once
// The TLS library's hashes, randomness and base64 for code outside src/tls (only
// src/tls includes its headers, so a -Dtls=openssl build differs here alone).

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ringway {

using Sha256Digest = std::array<uint8_t, 32>;

// SHA-256 of the concatenation of |parts|.
Sha256Digest sha256(std::initializer_list<std::string_view> parts);

// Fills |out| from the system CSPRNG (the TLS library's); false only if it failed.
bool random_bytes(void* out, size_t n);

// Standard base64 (RFC 4648 §4), strictly: length a multiple of 4, padding only at
// the end, no whitespace or other characters, into |out| (at most |max_out| bytes).
// False (|out| unspecified) otherwise.
bool base64_decode(std::string_view in, uint8_t* out, size_t max_out, size_t* out_len);

// Compares |n| bytes without an early exit (secrets, hashes).
bool constant_time_equal(const void* a, const void* b, size_t n);

// Overwrites |n| bytes with zeros in a way the compiler cannot drop (secrets).
void secure_zero(void* p, size_t n);

}  // namespace ringway
