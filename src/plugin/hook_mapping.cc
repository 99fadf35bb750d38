#include "plugin/hook_mapping.h"

#include <map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "config/values.h"
#include "http/local_reply.h"

namespace ringway {
namespace {

bool is_token_char(char c) {
  // RFC 9110 tchar.
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Go's url.QueryUnescape for one component ('+' is a space); invalid escapes are
// kept as they are.
std::string query_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit_value(s[i + 1]) >= 0 &&
               hex_digit_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(s[i + 1]) * 16 + hex_digit_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Percent-encodes a query component (unreserved characters stay).
std::string query_escape(std::string_view s) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

// The query's name=value pairs, in order (names and values still encoded).
std::vector<std::pair<std::string_view, std::string_view>> split_query(std::string_view q) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    if (!item.empty()) {
      size_t eq = item.find('=');
      out.emplace_back(item.substr(0, eq),
                       eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

bool is_valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

bool is_valid_header_value(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool headers_are_valid(const HeaderList& headers, std::string* why) {
  for (const Header& h : headers) {
    if (!is_valid_header_name(h.name.view())) {
      *why = "the plugin returned an invalid header name";
      return false;
    }
    if (!is_valid_header_value(h.value.view())) {
      *why = "the plugin returned header " + h.name.str() + " with a control character";
      return false;
    }
  }
  return true;
}

namespace {

// A request-target or authority: printable, no spaces.
bool is_valid_target(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string canonical_header_key(std::string_view name) {
  for (char c : name) {
    if (!is_token_char(c)) return std::string(name);
  }
  std::string out(name);
  bool upper = true;
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    upper = c == '-';
  }
  return out;
}

void build_mini_request(const RequestHead& head, std::string_view scheme,
                        std::string_view raw_body, coprocess::MiniRequestObject* out) {
  auto* headers = out->mutable_headers();
  for (const Header& h : head.headers) {
    // First value only, as Tyk (a Go header map read with Get).
    headers->try_emplace(canonical_header_key(h.name.view()), h.value.str());
  }
  if (!head.authority.empty()) (*headers)["Host"] = head.authority;
  out->set_url(head.path);
  out->set_request_uri(head.path);
  out->set_method(head.method);
  out->set_scheme(std::string(scheme));
  size_t q = head.path.find('?');
  if (q != std::string::npos) {
    auto* params = out->mutable_params();
    for (auto [name, value] : split_query(std::string_view(head.path).substr(q + 1))) {
      params->try_emplace(query_unescape(name), query_unescape(value));
    }
  }
  out->set_raw_body(std::string(raw_body));
  // body is text: empty when the bytes are not UTF-8 (as Tyk).
  if (is_valid_utf8(raw_body)) out->set_body(std::string(raw_body));
  out->mutable_return_overrides()->set_response_code(-1);
}

bool apply_request_changes(const coprocess::MiniRequestObject& reply, RequestHead& head,
                           std::string* body, bool replace_body, std::string* error) {
  const std::string& url = reply.url();
  if (url.empty() || url.front() != '/') {
    *error = "the plugin returned no url (or not a path): it must echo request.url";
    return false;
  }
  if (!is_valid_target(url)) {
    *error = "the plugin returned a url with spaces or control characters";
    return false;
  }
  if (!reply.method().empty() && !is_valid_header_name(reply.method())) {
    *error = "the plugin returned an invalid method";
    return false;
  }
  for (const auto& [name, value] : reply.set_headers()) {
    bool host = name.size() == 4 && (name[0] | 0x20) == 'h' && (name[1] | 0x20) == 'o' &&
                (name[2] | 0x20) == 's' && (name[3] | 0x20) == 't';
    if (!is_valid_header_name(name) || !is_valid_header_value(value) ||
        (host && !is_valid_target(value))) {
      *error = "the plugin returned an invalid header in set_headers (" +
               std::string(is_valid_header_name(name) ? name : "bad name") + ")";
      return false;
    }
  }
  // Headers: deletions, then the values set (our names are lower-case).
  for (const std::string& name : reply.delete_headers()) {
    remove_headers(head.headers, to_lower(name));
  }
  for (const auto& [name, value] : reply.set_headers()) {
    std::string n = to_lower(name);
    if (n == "host") {
      head.authority = value;
      continue;
    }
    remove_headers(head.headers, n);
    head.headers.push_back({n, value});
  }
  // The URL as returned, then the query edits (only when there are some, so an
  // untouched query keeps its bytes).
  std::string path = url;
  if (reply.delete_params_size() > 0 || reply.add_params_size() > 0) {
    size_t q = path.find('?');
    std::string query = q == std::string::npos ? std::string() : path.substr(q + 1);
    path = path.substr(0, q);
    std::vector<std::pair<std::string, std::string>> kept;
    for (auto [name, value] : split_query(query)) {
      std::string decoded = query_unescape(name);
      bool dropped = reply.add_params().count(decoded) != 0;
      for (const std::string& d : reply.delete_params()) dropped |= d == decoded;
      if (!dropped) kept.emplace_back(std::string(name), std::string(value));
    }
    // Added parameters in name order (Go encodes a url.Values sorted by key).
    std::map<std::string, std::string> added(reply.add_params().begin(),
                                             reply.add_params().end());
    std::string rebuilt;
    for (const auto& [name, value] : kept) {
      rebuilt += (rebuilt.empty() ? "" : "&") + name + (value.empty() ? "" : "=" + value);
    }
    for (const auto& [name, value] : added) {
      rebuilt += (rebuilt.empty() ? "" : "&") + query_escape(name) + "=" + query_escape(value);
    }
    if (!rebuilt.empty()) path += "?" + rebuilt;
  }
  head.path = std::move(path);
  if (!reply.method().empty()) head.method = reply.method();
  if (replace_body) {
    *body = reply.raw_body();
    head.content_length = static_cast<int64_t>(body->size());
  }
  return true;
}

OverrideReply decide_override(const coprocess::ReturnOverrides& o) {
  OverrideReply r;
  if (o.response_code() <= 0) return r;
  r.active = true;
  r.status = o.response_code();
  std::string message = o.response_error().empty() ? o.response_body() : o.response_error();
  for (const auto& [name, value] : o.headers()) r.headers.push_back({to_lower(name), value});
  if (r.status >= 400 && !o.override_error()) {
    // Tyk's error template: {"error": "..."} (its default message when none is given).
    r.body = "{\n    \"error\": ";
    append_json_string(r.body, message.empty() ? "Key not authorised" : message);
    r.body += "\n}";
    bool has_type = false;
    for (const Header& h : r.headers) has_type |= h.name == "content-type";
    if (!has_type) r.headers.push_back({"content-type", "application/json"});
  } else {
    r.body = std::move(message);
  }
  return r;
}

void to_coprocess_session(const SessionState& in, std::string_view key_id,
                          coprocess::SessionState* out) {
  out->set_allowance(in.allowance);
  out->set_rate(in.rate);
  out->set_per(in.per);
  out->set_expires(in.expires);
  out->set_quota_max(in.quota_max);
  out->set_quota_renews(in.quota_renews);
  out->set_quota_remaining(in.quota_remaining);
  out->set_quota_renewal_rate(in.quota_renewal_rate);
  for (const auto& [api, def] : in.access_rights) {
    coprocess::AccessDefinition& d = (*out->mutable_access_rights())[api];
    d.set_api_name(def.api_name);
    d.set_api_id(def.api_id);
    for (const std::string& v : def.versions) d.add_versions(v);
  }
  out->set_org_id(in.org_id);
  out->mutable_basic_auth_data()->set_password(in.basic_auth_data.password);
  out->mutable_basic_auth_data()->set_hash(in.basic_auth_data.hash_type);
  out->set_is_inactive(in.is_inactive);
  // Metadata values that are not strings travel JSON-encoded (as Tyk sends them).
  nlohmann::json meta = nlohmann::json::parse(in.meta_data, nullptr, false);
  if (meta.is_object()) {
    for (const auto& [k, v] : meta.items()) {
      (*out->mutable_metadata())[k] =
          v.is_string() ? v.get<std::string>()
                        : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  for (const std::string& t : in.tags) out->add_tags(t);
  out->set_alias(in.alias);
  out->set_last_updated(std::to_string(in.last_updated));
  out->set_key_id(std::string(key_id));
}

void from_coprocess_session(const coprocess::SessionState& in, SessionState* out) {
  out->allowance = in.allowance();
  out->rate = in.rate();
  out->per = in.per();
  out->expires = in.expires();
  out->quota_max = in.quota_max();
  out->quota_renews = in.quota_renews();
  out->quota_remaining = in.quota_remaining();
  out->quota_renewal_rate = in.quota_renewal_rate();
  out->access_rights.clear();
  for (const auto& [api, d] : in.access_rights()) {
    AccessDefinition def;
    def.api_name = d.api_name();
    def.api_id = d.api_id();
    def.versions.assign(d.versions().begin(), d.versions().end());
    out->access_rights.emplace(api, std::move(def));
  }
  out->org_id = in.org_id();
  out->basic_auth_data.password = in.basic_auth_data().password();
  out->basic_auth_data.hash_type = in.basic_auth_data().hash();
  out->is_inactive = in.is_inactive();
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : in.metadata()) meta[k] = v;
  out->meta_data = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out->tags.assign(in.tags().begin(), in.tags().end());
  out->alias = in.alias();
}

}  // namespace ringway
