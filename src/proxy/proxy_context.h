#pragma once
// What the request path of one shard needs, owned by that shard (runtime/shard.h)
// and handed to connections and exchanges by pointer. Nothing in here is shared with
// another shard except the immutable Config and Router.

#include <cstdint>
#include <string>

#include "config/config.h"
#include "io/loop.h"
#include "route/router.h"

namespace ringway {

class UpstreamPools;
class AccessLog;
class DownstreamConnList;
class TlsServerContext;

struct ProxyCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;  // max_connections reached
  uint64_t requests = 0;
  uint64_t local_replies = 0;
  uint64_t upstream_connect_failures = 0;
  uint64_t upstream_timeouts = 0;
  uint64_t malformed_requests = 0;
  uint64_t auth_failures = 0;          // 401/403 replies
  uint64_t tls_handshakes = 0;         // downstream, completed
  uint64_t tls_resumed_handshakes = 0;
  uint64_t tls_handshake_failures = 0;  // downstream: failed or timed out
};

struct ProxyContext {
  int shard_index = 0;
  Loop* loop = nullptr;
  const Config* config = nullptr;
  const GatewayConfig* gateway = nullptr;
  const Router* router = nullptr;
  UpstreamPools* pools = nullptr;
  AccessLog* access_log = nullptr;
  TlsServerContext* tls_server = nullptr;  // null without tls_listen
  bool draining = false;
  uint32_t downstream_connections = 0;
  uint32_t active_exchanges = 0;
  ProxyCounters counters;
};

}  // namespace ringway
