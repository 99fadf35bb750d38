#include "store/session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace ringway {
namespace {

using Json = nlohmann::json;

// Deeper documents are refused before they are built: dump() and the comparisons
// recurse, and no Tyk session nests more than a few levels.
constexpr int kMaxDepth = 64;

// Builds the DOM through nlohmann's own SAX builder (exceptions off) so errors come
// back as values with their byte position instead of being thrown.
class DomBuilder {
 public:
  explicit DomBuilder(Json* root) : dom_(*root, /*allow_exceptions_=*/false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool value) { return dom_.boolean(value); }
  bool number_integer(Json::number_integer_t value) { return dom_.number_integer(value); }
  bool number_unsigned(Json::number_unsigned_t value) { return dom_.number_unsigned(value); }
  bool number_float(Json::number_float_t value, const Json::string_t& text) {
    return dom_.number_float(value, text);
  }
  bool string(Json::string_t& value) { return dom_.string(value); }
  bool binary(Json::binary_t& value) { return dom_.binary(value); }
  bool start_object(std::size_t size) { return enter() && dom_.start_object(size); }
  bool key(Json::string_t& value) { return dom_.key(value); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t size) { return enter() && dom_.start_array(size); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& ex) {
    error_position_ = position;
    error_id_ = ex.id;
    return dom_.parse_error(position, token, ex);
  }

  bool too_deep() const { return too_deep_; }
  std::size_t error_position() const { return error_position_; }
  int error_id() const { return error_id_; }

 private:
  bool enter() {
    if (++depth_ > kMaxDepth) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int depth_ = 0;
  bool too_deep_ = false;
  std::size_t error_position_ = 0;
  int error_id_ = 0;
};

// Parses |text| into |out|; on failure sets |error|. Never throws.
bool parse_json(std::string_view text, Json* out, std::string* error) {
  DomBuilder builder(out);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.data(), text.data() + text.size(), &builder,
                         Json::input_format_t::json, /*strict=*/true);
  } catch (const Json::exception& e) {
    // Not expected with the builder's exceptions off; kept so nothing escapes.
    *error = std::string("malformed JSON: ") + e.what();
    return false;
  }
  if (ok) {
    // nlohmann stops at a NUL byte as at the end of input; JSON has no such end.
    std::size_t nul = text.find('\0');
    if (nul == std::string_view::npos) return true;
    *error = "malformed JSON at byte " + std::to_string(nul + 1);
    return false;
  }
  if (builder.too_deep()) {
    *error = "body: nested deeper than " + std::to_string(kMaxDepth) + " levels";
    return false;
  }
  // The position counts the bytes read when the error was found, as Go's
  // json.SyntaxError.Offset does (so "{x" fails at byte 2).
  std::size_t at = std::min(builder.error_position(), text.size());
  if (builder.error_id() == 406) {
    *error = "number out of range at byte " + std::to_string(at);
  } else {
    *error = "malformed JSON at byte " + std::to_string(at);
  }
  return false;
}

// --- field readers: each returns false with "<name>: expected ..." ---

bool expect(std::string* error, const std::string& name, const char* what) {
  *error = name + ": expected " + what;
  return false;
}

bool read_double(const Json& value, const std::string& name, double* out, std::string* error) {
  if (!value.is_number()) return expect(error, name, "a number");
  *out = value.get<double>();
  return true;
}

bool double_to_int64(double d, int64_t* out) {
  // 2^63 is exact as a double; [-2^63, 2^63) is int64's range.
  constexpr double kLimit = 9223372036854775808.0;
  if (!(d >= -kLimit && d < kLimit) || std::trunc(d) != d) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool read_int64(const Json& value, const std::string& name, int64_t* out, std::string* error) {
  if (value.is_number_integer() && !value.is_number_unsigned()) {
    *out = value.get<int64_t>();
    return true;
  }
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return expect(error, name, "an integer");
    }
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_float() && double_to_int64(value.get<double>(), out)) return true;
  return expect(error, name, "an integer");
}

bool read_string(const Json& value, const std::string& name, std::string* out,
                 std::string* error) {
  if (!value.is_string()) return expect(error, name, "a string");
  *out = value.get<std::string>();
  return true;
}

bool read_string_array(const Json& value, const std::string& name,
                       std::vector<std::string>* out, std::string* error) {
  if (!value.is_array()) return expect(error, name, "an array of strings");
  out->clear();
  out->reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const Json& item = value[i];
    if (!item.is_string()) return expect(error, name + "[" + std::to_string(i) + "]", "a string");
    out->push_back(item.get<std::string>());
  }
  return true;
}

// --- RFC 3339 <-> unix seconds (proleptic Gregorian, any year 0001-9999) ---

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[m - 1];
}

// Reads |count| digits at |*pos|.
bool digits(std::string_view s, std::size_t* pos, int count, int* out) {
  if (*pos + count > s.size()) return false;
  int v = 0;
  for (int i = 0; i < count; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += count;
  *out = v;
  return true;
}

bool expect_char(std::string_view s, std::size_t* pos, char a, char b = 0) {
  if (*pos >= s.size() || (s[*pos] != a && (b == 0 || s[*pos] != b))) return false;
  ++*pos;
  return true;
}

// "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"; the fraction is dropped.
bool parse_rfc3339(std::string_view s, int64_t* out) {
  std::size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!digits(s, &pos, 4, &year) || !expect_char(s, &pos, '-') ||
      !digits(s, &pos, 2, &month) || !expect_char(s, &pos, '-') ||
      !digits(s, &pos, 2, &day) || !expect_char(s, &pos, 'T', 't') ||
      !digits(s, &pos, 2, &hour) || !expect_char(s, &pos, ':') ||
      !digits(s, &pos, 2, &minute) || !expect_char(s, &pos, ':') ||
      !digits(s, &pos, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 ||
      day > static_cast<int>(days_in_month(year, static_cast<unsigned>(month))) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return false;
  }
  int64_t offset = 0;
  if (expect_char(s, &pos, 'Z', 'z')) {
    // UTC.
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!digits(s, &pos, 2, &oh) || !expect_char(s, &pos, ':') || !digits(s, &pos, 2, &om) ||
        oh > 23 || om > 59) {
      return false;
    }
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  *out = days * 86400 + hour * 3600 + minute * 60 + second - offset;
  return true;
}

std::string format_rfc3339(int64_t unix_seconds) {
  // Out of what four-digit years hold: clamp rather than write an unreadable time.
  constexpr int64_t kMin = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
  unix_seconds = std::clamp(unix_seconds, kMin, kMax);
  int64_t days = unix_seconds / 86400;
  int64_t rem = unix_seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  char buf[32];
  snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(y), m, d,
           static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
           static_cast<int>(rem % 60));
  return buf;
}

// Tyk writes last_updated as a decimal string; numbers are accepted too.
bool read_last_updated(const Json& value, int64_t* out, std::string* error) {
  if (value.is_number()) return read_int64(value, "last_updated", out, error);
  if (!value.is_string()) return expect(error, "last_updated", "a decimal string of unix seconds");
  const std::string& s = value.get_ref<const std::string&>();
  if (s.empty()) {
    *out = 0;
    return true;
  }
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.size() - i > 18) {
    return expect(error, "last_updated", "a decimal string of unix seconds");
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return expect(error, "last_updated", "a decimal string of unix seconds");
    }
    v = v * 10 + (s[i] - '0');
  }
  *out = s[0] == '-' ? -v : v;
  return true;
}

bool read_access_rights(const Json& value, std::map<std::string, AccessDefinition>* out,
                        std::string* error) {
  if (!value.is_object()) return expect(error, "access_rights", "an object");
  out->clear();
  for (const auto& [api, entry] : value.items()) {
    const std::string name = "access_rights." + api;
    AccessDefinition def;
    // null is an entry with every field empty, as Go decodes it.
    if (!entry.is_null() && !entry.is_object()) return expect(error, name, "an object");
    // Tyk's AccessDefinition has more fields (allowed_urls, limit, ...); Ringway
    // enforces only the API id, and keeps the rest for GET.
    if (entry.is_object()) {
      Json extra = Json::object();
      for (const auto& [field, v] : entry.items()) {
        if (field != "api_name" && field != "api_id" && field != "versions") {
          extra[field] = v;
          continue;
        }
        if (v.is_null()) continue;
        if (field == "api_name") {
          if (!read_string(v, name + ".api_name", &def.api_name, error)) return false;
        } else if (field == "api_id") {
          if (!read_string(v, name + ".api_id", &def.api_id, error)) return false;
        } else if (field == "versions") {
          if (!read_string_array(v, name + ".versions", &def.versions, error)) return false;
        }
      }
      def.extra = extra.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    out->emplace(api, std::move(def));
  }
  return true;
}

bool read_basic_auth(const Json& value, BasicAuthData* out, std::string* error) {
  if (!value.is_object()) return expect(error, "basic_auth_data", "an object");
  for (const auto& [field, v] : value.items()) {
    if (v.is_null()) continue;
    if (field == "password") {
      if (!read_string(v, "basic_auth_data.password", &out->password, error)) return false;
    } else if (field == "hash_type") {
      if (!read_string(v, "basic_auth_data.hash_type", &out->hash_type, error)) return false;
    }
  }
  return true;
}

bool read_field(const std::string& field, const Json& v, SessionState* s, Json* extra,
                std::string* error) {
  if (field == "allowance") return read_double(v, field, &s->allowance, error);
  if (field == "rate") return read_double(v, field, &s->rate, error);
  if (field == "per") return read_double(v, field, &s->per, error);
  if (field == "expires") return read_int64(v, field, &s->expires, error);
  if (field == "quota_max") return read_int64(v, field, &s->quota_max, error);
  if (field == "quota_remaining") return read_int64(v, field, &s->quota_remaining, error);
  if (field == "quota_renews") return read_int64(v, field, &s->quota_renews, error);
  if (field == "quota_renewal_rate") return read_int64(v, field, &s->quota_renewal_rate, error);
  if (field == "access_rights") return read_access_rights(v, &s->access_rights, error);
  if (field == "org_id") return read_string(v, field, &s->org_id, error);
  if (field == "alias") return read_string(v, field, &s->alias, error);
  if (field == "tags") return read_string_array(v, field, &s->tags, error);
  if (field == "basic_auth_data") return read_basic_auth(v, &s->basic_auth_data, error);
  if (field == "last_updated") return read_last_updated(v, &s->last_updated, error);
  if (field == "is_inactive") {
    if (!v.is_boolean()) return expect(error, field, "a boolean");
    s->is_inactive = v.get<bool>();
    return true;
  }
  if (field == "meta_data") {
    if (!v.is_object()) return expect(error, field, "an object");
    s->meta_data = v.dump(-1, ' ', false, Json::error_handler_t::replace);
    return true;
  }
  if (field == "date_created") {
    if (!v.is_string() || !parse_rfc3339(v.get_ref<const std::string&>(), &s->date_created)) {
      return expect(error, field, "an RFC 3339 time");
    }
    return true;
  }
  (*extra)[field] = v;
  return true;
}

// A stored JSON object text back to a value; anything else gives an empty object.
Json object_from_text(const std::string& text) {
  Json j;
  std::string ignored;
  if (!parse_json(text, &j, &ignored) || !j.is_object()) return Json::object();
  return j;
}

// Whole doubles are written as integers, as Go writes float64 (1000, not 1000.0).
Json number_json(double d) {
  int64_t i;
  if (std::isfinite(d) && std::fabs(d) < 9007199254740992.0 && double_to_int64(d, &i)) {
    return Json(i);
  }
  return Json(d);
}

}  // namespace

bool SessionState::grants(std::string_view api_id) const {
  return access_rights.empty() || access_rights.count(std::string(api_id)) != 0;
}

bool parse_session_json(std::string_view text, SessionState* out, std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    *error = "body: empty (expected a JSON object)";
    return false;
  }
  Json root;
  if (!parse_json(text, &root, error)) return false;
  if (!root.is_object()) {
    *error = "body: expected a JSON object";
    return false;
  }
  SessionState session;
  Json extra = Json::object();
  for (const auto& [field, value] : root.items()) {
    if (value.is_null()) continue;  // null = absent, as Go leaves the default
    if (!read_field(field, value, &session, &extra, error)) return false;
  }
  session.extra = extra.dump(-1, ' ', false, Json::error_handler_t::replace);
  *out = std::move(session);
  return true;
}

std::string session_to_json(const SessionState& s) {
  Json j = object_from_text(s.extra);
  Json access = Json::object();
  for (const auto& [api, def] : s.access_rights) {
    Json entry = object_from_text(def.extra);
    entry["api_name"] = def.api_name;
    entry["api_id"] = def.api_id;
    entry["versions"] = def.versions;
    access[api] = std::move(entry);
  }
  // Modelled fields win over any same-named field in |extra|.
  j["allowance"] = number_json(s.allowance);
  j["rate"] = number_json(s.rate);
  j["per"] = number_json(s.per);
  j["expires"] = s.expires;
  j["quota_max"] = s.quota_max;
  j["quota_remaining"] = s.quota_remaining;
  j["quota_renews"] = s.quota_renews;
  j["quota_renewal_rate"] = s.quota_renewal_rate;
  j["access_rights"] = std::move(access);
  j["org_id"] = s.org_id;
  j["is_inactive"] = s.is_inactive;
  j["alias"] = s.alias;
  j["tags"] = s.tags;
  j["meta_data"] = object_from_text(s.meta_data);
  j["basic_auth_data"] = {{"password", s.basic_auth_data.password},
                          {"hash_type", s.basic_auth_data.hash_type}};
  j["date_created"] = format_rfc3339(s.date_created);
  j["last_updated"] = std::to_string(s.last_updated);
  // Strings set in code may not be UTF-8; replace rather than throw.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace ringway
