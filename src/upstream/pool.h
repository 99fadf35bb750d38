#pragma once
// Per-shard connection pools, one per API (its target). A pool hands out
// UpstreamStreams: an idle keep-alive HTTP/1.1 connection, or a stream on an HTTP/2
// connection with room under the peer's MAX_CONCURRENT_STREAMS; otherwise it connects
// (bounded by upstream_max_connections) and keeps the exchange waiting.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/proxy_context.h"

namespace ringway {

class Exchange;
class UpstreamTls;

class UpstreamPool {
 public:
  virtual ~UpstreamPool() = default;
  // Calls ex->on_upstream_ready() or ex->on_upstream_failed(), now or later.
  virtual void request_stream(Exchange* ex) = 0;
  // The exchange no longer waits (client went away).
  virtual void cancel_request(Exchange* ex) = 0;
  // Drain: close idle connections now, the rest when their streams finish.
  virtual void shutdown() = 0;
  // Drain deadline passed: close every connection (connecting ones too) and fail
  // every exchange still waiting or streaming, so the shard can stop.
  virtual void abort_all() = 0;
  virtual uint32_t connection_count() const = 0;
};

class UpstreamPools {
 public:
  // |error| is set (and the pools must not be used) when an https:// target's TLS
  // files cannot be loaded.
  UpstreamPools(ProxyContext* ctx, const Config& config, std::string* error);
  ~UpstreamPools();
  UpstreamPool* for_api(const ApiConfig* api);
  void shutdown();
  void abort_all();
  uint32_t connection_count() const;

 private:
  const Config& config_;
  std::vector<std::unique_ptr<UpstreamTls>> tls_;     // indexed like config.apis
  std::vector<std::unique_ptr<UpstreamPool>> pools_;  // indexed like config.apis
};

}  // namespace ringway
