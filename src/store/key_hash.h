#pragma once
// Keys are stored and indexed by their SHA-256 (never in clear): hash_key() gives the
// 64 lower-case hex digits Tyk's key API shows as key_hash, key_digest() the 32 raw
// bytes the shards' caches use. A Basic-auth user is a key named by the user name.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringway {

using KeyDigest = std::array<uint8_t, 32>;

KeyDigest key_digest(std::string_view key);
std::string hash_key(std::string_view key);
std::string digest_hex(const KeyDigest& digest);
// 64 hex digits (any case) -> digest; false otherwise.
bool parse_digest_hex(std::string_view hex, KeyDigest* out);
// A new random key: 32 lower-case hex digits (128 bits from the system CSPRNG),
// after |org_id| when it is not empty (Tyk's generated keys start with the org id).
std::string generate_key(std::string_view org_id);

}  // namespace ringway
