#pragma once
// Everything a pool needs to know about its upstream, copied out of the
// configuration: a pool lives as long as some configuration generation uses it, and
// a reload that leaves an API's upstream settings unchanged keeps the same pool (and
// its warm connections) instead of making a new one.

#include <cstdint>
#include <string>

#include "config/config.h"
#include "http/upstream.h"

namespace ringway {

struct UpstreamSettings {
  std::string api;  // the API the pool serves (pools, limits and counters are per API)
  TargetUrl target;
  // TLS towards https:// targets.
  std::string ca_file;    // empty = the system trust store
  std::string cert_file;  // client certificate for upstream mTLS
  std::string key_file;
  bool insecure_skip_verify = false;
  // What the three files were when the settings were made (device, inode, size,
  // modification time): a reload after a certificate was replaced at the same path
  // gets a new pool and client context instead of keeping the old ones.
  std::string tls_files_identity;
  uint32_t record_warmup_bytes = 1048576;
  uint32_t record_idle_ms = 1000;
  // Connections.
  UpstreamLimits limits;
  uint32_t max_connections = 1024;      // per shard, any protocol
  uint32_t max_idle_connections = 64;   // per shard, HTTP/1.1
  uint32_t reconnect_backoff_ms = 100;
  uint32_t reconnect_backoff_max_ms = 5000;
  uint32_t buffer_size = 16384;  // the shard's receive buffer size (TLS input bound)

  // Settings that make two pools interchangeable: equal keys share a pool across
  // configuration generations.
  std::string key() const;
};

UpstreamSettings upstream_settings_for(const ApiConfig& api, const Config& config);

}  // namespace ringway
