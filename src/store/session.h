#pragma once
// A key's session as Tyk's key API reads and writes it (Tyk's user.SessionState, the
// fields that matter to Ringway): what the key may reach (access_rights), until when
// (expires, is_inactive), how often (rate per per seconds, quotas), and, for a
// Basic-auth user, the bcrypt hash of the password. Fields Ringway does not model are
// kept verbatim (|extra|) so GET returns what was POSTed.
//
// Plain data: built by the admin API from JSON, stored by the store thread, and handed
// to shards (as shared_ptr<const SessionState>) for their auth caches.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ringway {

// access_rights["API id"]: Tyk's AccessDefinition (Ringway checks only the key).
struct AccessDefinition {
  std::string api_name;
  std::string api_id;
  std::vector<std::string> versions;
  // Its other fields (allowed_urls, limit, ...), as one JSON object, written back
  // unchanged.
  std::string extra = "{}";
};

struct BasicAuthData {
  std::string password;   // the bcrypt hash once stored ("" for a token key)
  std::string hash_type;  // "bcrypt" once stored
};

struct SessionState {
  // Rate limit: |rate| requests per |per| seconds; rate <= 0 or per <= 0 = none.
  double allowance = 0;
  double rate = 0;
  double per = 0;
  // Unix seconds after which the key is refused; 0 or negative = never.
  int64_t expires = 0;
  // Quota: quota_max requests per quota_renewal_rate seconds; quota_max <= 0 = none
  // (as Tyk: -1 and 0 both mean unlimited).
  int64_t quota_max = -1;
  int64_t quota_remaining = 0;
  int64_t quota_renews = 0;        // unix seconds of the next renewal
  int64_t quota_renewal_rate = 0;  // seconds
  // Empty = every API (as Tyk).
  std::map<std::string, AccessDefinition> access_rights;
  std::string org_id;
  bool is_inactive = false;
  std::string alias;
  std::vector<std::string> tags;
  std::string meta_data = "{}";  // a JSON object, verbatim
  BasicAuthData basic_auth_data;
  int64_t date_created = 0;  // unix seconds (JSON: RFC 3339 text, as Tyk)
  int64_t last_updated = 0;  // unix seconds (JSON: a decimal string, as Tyk)
  // Every other top-level field of the JSON it came from, as one JSON object, so it
  // is written back unchanged ("{}" when none).
  std::string extra = "{}";

  bool is_basic_user() const { return !basic_auth_data.password.empty(); }
  bool has_rate_limit() const { return rate > 0 && per > 0; }
  bool has_quota() const { return quota_max > 0; }
  // True when access_rights is empty or names |api_id|.
  bool grants(std::string_view api_id) const;
};

// Parses Tyk's session JSON. Every field is optional; a field of the wrong type
// (e.g. "rate": "ten"), a body that is not a JSON object, or malformed JSON gives
// false with |error| saying what and where ("rate: expected a number"). Unknown
// fields go to |extra|.
bool parse_session_json(std::string_view text, SessionState* out, std::string* error);

// The session as Tyk's GET /tyk/keys/{key} returns it (all modelled fields plus
// |extra|). basic_auth_data.password is the stored hash.
std::string session_to_json(const SessionState& session);

}  // namespace ringway
