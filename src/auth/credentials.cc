#include "auth/credentials.h"

#include <cstddef>
#include <cstdint>

#include "tls/crypto.h"

namespace ringway {
namespace {

// HTTP's optional whitespace (RFC 9110 §5.6.3): space and horizontal tab.
bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_left(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_ows(s[i])) ++i;
  return s.substr(i);
}

std::string_view trim(std::string_view s) {
  s = trim_left(s);
  size_t n = s.size();
  while (n > 0 && is_ows(s[n - 1])) --n;
  return s.substr(0, n);
}

// ASCII-only and locale-free: auth schemes are tokens (RFC 9110 §11.1).
bool starts_with_nocase(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (size_t i = 0; i < lower_prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_prefix[i]) return false;
  }
  return true;
}

// The decoded form of the longest token kMaxBasicHeaderBytes allows.
constexpr size_t kMaxDecodedBytes = kMaxBasicHeaderBytes / 4 * 3;

}  // namespace

// |out| is written only on kOk, so a caller may reuse one BasicCredentials.
BasicParse parse_basic_authorization(std::string_view value, BasicCredentials* out) {
  // First, before any work: the length bounds the stack buffer below.
  if (value.size() > kMaxBasicHeaderBytes) return BasicParse::kTooLong;
  value = trim(value);
  constexpr std::string_view kScheme = "basic";
  // The scheme, then at least one space: "Basic", "Basic   " and "BasicdXNl..." are
  // not Basic auth at all.
  if (!starts_with_nocase(value, kScheme) || value.size() == kScheme.size() ||
      !is_ows(value[kScheme.size()])) {
    return BasicParse::kNotBasic;
  }
  std::string_view token = trim_left(value.substr(kScheme.size()));
  // More than two words ("Basic a b"): Tyk reads that as the wrong format too, not as
  // bad base64.
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) {
    return BasicParse::kNotBasic;
  }

  uint8_t decoded[kMaxDecodedBytes];
  size_t len = 0;
  if (!base64_decode(token, decoded, sizeof(decoded), &len)) return BasicParse::kBadBase64;
  std::string_view text(reinterpret_cast<const char*>(decoded), len);
  // The first ':' ends the user name (RFC 7617 §2: user-ids cannot contain one, the
  // password can).
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return BasicParse::kNoColon;
  if (colon == 0) return BasicParse::kEmptyUser;
  out->user.assign(text.substr(0, colon));
  out->password.assign(text.substr(colon + 1));
  return BasicParse::kOk;
}

// Tyk answers "Attempted access with malformed header, <text>" in a 400 (its log
// lines add a period; the reply body has none).
const char* basic_parse_message(BasicParse result) {
  switch (result) {
    case BasicParse::kOk:
      return "";
    case BasicParse::kNotBasic:
      return "header not in basic auth format";
    case BasicParse::kBadBase64:
      return "auth data not encoded correctly";
    case BasicParse::kNoColon:
    case BasicParse::kEmptyUser:
      return "values not in basic auth format";
    case BasicParse::kTooLong:
      return "header too long";
  }
  return "header not in basic auth format";
}

// A bare "Bearer" (nothing after it, or only spaces) gives "": the client named the
// scheme but sent no key, which is answered as a missing key rather than looked up as
// a key called "Bearer". "Bearerabc" has no separator, so it is a bare key.
std::string_view extract_token(std::string_view value) {
  value = trim(value);
  constexpr std::string_view kScheme = "bearer";
  if (starts_with_nocase(value, kScheme)) {
    if (value.size() == kScheme.size()) return {};
    if (is_ows(value[kScheme.size()])) return trim_left(value.substr(kScheme.size()));
  }
  return value;
}

}  // namespace ringway
