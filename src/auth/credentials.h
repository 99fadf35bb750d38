#pragma once
// Reading credentials out of request headers: Basic auth (RFC 7617) and tokens
// (Tyk's standard auth: the key itself, or "Bearer <key>" in any case).

#include <string>
#include <string_view>

namespace ringway {

// Each malformed form, with Tyk's message for the 400 it answers.
enum class BasicParse : uint8_t {
  kOk,
  kNotBasic,    // not "Basic <base64>": "header not in basic auth format"
  kBadBase64,   // "auth data not encoded correctly"
  kNoColon,     // decoded text has no ':': "values not in basic auth format"
  kEmptyUser,   // ":password": "values not in basic auth format"
  kTooLong,     // header beyond kMaxBasicHeaderBytes
};

// Longest Authorization value read as Basic (a user name and password of a few
// hundred bytes each fit several times over).
inline constexpr size_t kMaxBasicHeaderBytes = 4096;

struct BasicCredentials {
  std::string user;
  std::string password;  // may be empty; may contain ':'
};

// "Basic dXNlcjpwYXNz" ("basic" in any case, one or more spaces) -> user, password.
// Decoding uses the TLS library's base64 (tls/crypto.h: padding required, no
// whitespace inside).
BasicParse parse_basic_authorization(std::string_view value, BasicCredentials* out);

// Tyk's message for a malformed form (the text after "Attempted access with
// malformed header, ").
const char* basic_parse_message(BasicParse result);

// The key in a token header: surrounding spaces trimmed, then a leading "Bearer"
// (any case) followed by spaces removed. Empty when nothing is left.
std::string_view extract_token(std::string_view value);

}  // namespace ringway
