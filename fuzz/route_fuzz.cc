// The router on fuzzed (host, path) pairs against a fixed table, raw and after path
// normalisation (as the gateway routes). Input: host, '\n', request target.
// Invariants (a violation traps): a match is an API whose listen_path is a prefix of
// the path on a segment boundary and whose hosts (if any) include the request host;
// it is the longest such listen_path (host-specific first among equals); no match
// means no API qualifies; upstream_path() keeps the path a path.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/path_normalize.h"
#include "route/router.h"

using namespace ringway;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

ApiConfig api(std::string name, std::string listen_path, std::vector<std::string> hosts,
              bool strip, std::string base_path) {
  ApiConfig a;
  a.name = std::move(name);
  a.listen_path = std::move(listen_path);
  a.hosts = std::move(hosts);
  a.strip_listen_path = strip;
  a.target.base_path = std::move(base_path);
  a.use_keyless = true;
  return a;
}

// As config/ produces them: listen_path starts with '/', hosts are lower-case (IPv6
// ones in brackets), base paths are "" or "/x" without a trailing slash.
const std::vector<ApiConfig>& apis() {
  static const std::vector<ApiConfig> table = {
      api("root", "/", {}, false, ""),
      api("api", "/api", {}, true, "/backend"),
      api("api-slash", "/api/", {"example.com"}, true, ""),
      api("v1", "/api/v1", {}, false, "/v1base"),
      api("v1-host", "/api/v1", {"example.com", "[::1]", "10.0.0.1"}, true, ""),
      api("users", "/api/v1/users", {"users.example.com"}, true, "/u"),
      api("dots", "/a.b/c-d_e~f", {}, true, "/x"),
      api("pct", "/files/%2F", {}, false, ""),
  };
  return table;
}

const Router& router() {
  static const Router r(apis());
  return r;
}

// Independent of router.cc's helpers on purpose: what the header says a match is.
std::string bare_lower_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool qualifies(const ApiConfig& a, std::string_view host, std::string_view path) {
  const std::string& lp = a.listen_path;
  if (path.size() < lp.size() || path.compare(0, lp.size(), lp) != 0) return false;
  bool boundary = lp.back() == '/' || path.size() == lp.size() || path[lp.size()] == '/' ||
                  path[lp.size()] == '?';
  if (!boundary) return false;
  if (a.hosts.empty()) return true;
  std::string bare = bare_lower_host(host);
  for (const std::string& h : a.hosts) {
    if (h == bare) return true;
  }
  return false;
}

void check_match(std::string_view host, std::string_view path) {
  const ApiConfig* got = router().match(host, path);
  const ApiConfig* best = nullptr;
  for (const ApiConfig& a : apis()) {
    if (!qualifies(a, host, path)) continue;
    if (best == nullptr || a.listen_path.size() > best->listen_path.size() ||
        (a.listen_path.size() == best->listen_path.size() && best->hosts.empty() &&
         !a.hosts.empty())) {
      best = &a;
    }
  }
  check(got == best);
  if (got == nullptr) return;
  check(listen_path_matches(got->listen_path, path));
  std::string up = upstream_path(*got, path);
  check(!up.empty() && up.front() == '/');
  check(up.compare(0, got->target.base_path.size(), got->target.base_path) == 0);
  // Without stripping, the whole path follows the base path.
  if (!got->strip_listen_path) check(up == got->target.base_path + std::string(path));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return -1;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view host = nl == std::string_view::npos ? std::string_view() : input.substr(0, nl);
  std::string_view path = nl == std::string_view::npos ? input : input.substr(nl + 1);
  check_match(host, path);
  for (bool merge : {true, false}) {
    std::string normalized(path);
    PathNormalizeResult r = normalize_request_path(normalized, PathNormalizeOptions{merge});
    if (r.status != PathStatus::kOk) continue;
    check(!normalized.empty() && normalized.front() == '/');
    check_match(host, normalized);
  }
  return 0;
}
