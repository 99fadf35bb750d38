#include "route/router.h"

#include <algorithm>

namespace ringway {
namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Compares a request host (any case) with a configured host (already lower-case).
bool host_equals(std::string_view request_host, std::string_view configured) {
  if (request_host.size() != configured.size()) return false;
  for (size_t i = 0; i < configured.size(); ++i) {
    if (lower_ascii(request_host[i]) != configured[i]) return false;
  }
  return true;
}

// "Example.com:8080" -> "Example.com", "[::1]:8080" -> "[::1]", "example.com." ->
// "example.com". The brackets stay because config/ stores IPv6 hosts that way.
std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    size_t colon = host.find(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

}  // namespace

Router::Router(const std::vector<ApiConfig>& apis) {
  entries_.reserve(apis.size());
  for (const ApiConfig& api : apis) entries_.push_back(Entry{&api});
  // stable: among equals, the config file order decides.
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.api->listen_path.size() != b.api->listen_path.size()) {
      return a.api->listen_path.size() > b.api->listen_path.size();
    }
    return !a.api->hosts.empty() && b.api->hosts.empty();
  });
}

const ApiConfig* Router::match(std::string_view host, std::string_view path) const {
  std::string_view bare_host = host_without_port(host);
  for (const Entry& entry : entries_) {
    const ApiConfig& api = *entry.api;
    if (!listen_path_matches(api.listen_path, path)) continue;
    if (api.hosts.empty()) return &api;
    for (const std::string& configured : api.hosts) {
      if (host_equals(bare_host, configured)) return &api;
    }
  }
  return nullptr;
}

bool listen_path_matches(std::string_view listen_path, std::string_view path) {
  if (listen_path.empty()) return false;  // config/ never produces one
  if (path.substr(0, listen_path.size()) != listen_path) return false;
  if (listen_path.back() == '/') return true;
  if (path.size() == listen_path.size()) return true;
  char next = path[listen_path.size()];
  return next == '/' || next == '?';
}

std::string upstream_path(const ApiConfig& api, std::string_view path) {
  std::string_view rest = path;
  bool strip = api.strip_listen_path && !api.listen_path.empty() &&
               path.substr(0, api.listen_path.size()) == api.listen_path;
  if (strip) rest = path.substr(api.listen_path.size());
  const std::string& base = api.target.base_path;
  std::string out;
  out.reserve(base.size() + rest.size() + 1);
  out += base;
  // What remains after stripping ("", "x", "?q") needs a leading slash to stay a path.
  if (rest.empty() || rest.front() != '/') out += '/';
  out += rest;
  return out;
}

}  // namespace ringway
