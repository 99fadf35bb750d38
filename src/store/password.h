#pragma once
// Basic-auth passwords are kept as bcrypt hashes (libxcrypt). Both calls are slow on
// purpose (milliseconds): they run on the store's bcrypt workers, never on a shard.

#include <string>
#include <string_view>

namespace ringway {

// "$2b$<cost>$..." for |password|; empty (and |error| set) if libxcrypt refuses.
// |cost| 4..31 (Tyk uses Go's default, 10).
std::string bcrypt_hash(std::string_view password, int cost, std::string* error);
// True when |hash| is a bcrypt hash ($2a$, $2b$, $2y$) and |password| matches it.
// Passwords with a NUL byte never match.
bool bcrypt_verify(std::string_view password, std::string_view hash);
bool is_bcrypt_hash(std::string_view hash);

}  // namespace ringway
