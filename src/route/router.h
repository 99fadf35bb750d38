#pragma once
// Route table compiled from the [api.NAME] sections: longest listen_path prefix wins,
// an API with `hosts` only matches those hosts. Immutable after construction; each
// shard reads it without locks.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace ringway {

class Router {
 public:
  // |apis| must outlive the router (it points into the loaded Config).
  explicit Router(const std::vector<ApiConfig>& apis);

  // |host| is the request's Host / :authority as received (may carry a port and any
  // case); |path| is the request target path including any query string.
  // Returns null when no API matches.
  const ApiConfig* match(std::string_view host, std::string_view path) const;

 private:
  struct Entry {
    const ApiConfig* api;
  };
  std::vector<Entry> entries_;  // sorted: longer listen_path first, host-specific first
};

// True when |path| falls under |listen_path| on a segment boundary:
// "/api" matches "/api", "/api/", "/api/x", "/api?q" but not "/apix".
bool listen_path_matches(std::string_view listen_path, std::string_view path);

// The path sent upstream: listen_path removed when strip_listen_path is set (an empty
// remainder becomes "/"), then the target's base path prepended.
std::string upstream_path(const ApiConfig& api, std::string_view path);

}  // namespace ringway
