#pragma once
// Typed configuration filled from the INI file (DESIGN.md §4). config/ is the only
// code that reads raw INI text; everything else reads these structs, which are
// immutable once loaded and shared read-only by all shards.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

namespace ringway {

// A resolved socket address (IPv4 or IPv6) plus the text it came from.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string text;  // "host:port" as written, for logs
};

enum class UpstreamProtocol : uint8_t { Http1, H2c };

// A parsed target_url. http:// is HTTP/1.1 keep-alive, h2c:// is cleartext HTTP/2 with
// prior knowledge. (https:// is recognised and rejected until upstream TLS exists.)
struct TargetUrl {
  UpstreamProtocol protocol = UpstreamProtocol::Http1;
  std::string host;       // as written (name or address literal)
  uint16_t port = 0;
  std::string authority;  // "host" or "host:port" when the port is not the default
  std::string base_path;  // "" or "/base" (no trailing slash)
  SockAddr address;       // resolved at load time
};

struct ApiConfig {
  std::string name;  // the NAME of [api.NAME]; also the API id
  int line = 0;      // line of the section header, for messages
  std::string listen_path;  // always starts with '/'
  bool strip_listen_path = false;
  TargetUrl target;
  bool proxy_enable_http2 = false;  // accepted; http:// targets stay HTTP/1.1 (see ringway.ini)
  std::vector<std::string> hosts;   // lower-case; empty = any host
  bool preserve_host_header = false;
  bool use_keyless = false;
};

enum class LogLevel : uint8_t { Debug, Info, Warn, Error };

struct GatewayConfig {
  std::vector<SockAddr> listen;      // at least one
  bool enable_http2 = true;
  uint32_t shards = 0;               // 0 = auto (one per available core)
  bool pin_shards = true;
  uint32_t ring_entries = 4096;
  uint32_t buffer_size = 16384;      // bytes per provided receive buffer
  uint32_t buffer_count = 1024;      // provided buffers per shard (power of two)
  uint32_t max_connections = 10000;  // per shard, downstream
  uint32_t idle_timeout_ms = 60000;
  uint32_t request_header_timeout_ms = 10000;
  uint32_t upstream_connect_timeout_ms = 3000;
  uint32_t upstream_timeout_ms = 30000;
  uint32_t max_header_bytes = 65536;
  uint32_t max_concurrent_streams = 128;
  uint32_t stream_buffer_bytes = 1048576;
  // HTTP/2 connection-level receive window offered to clients and upstreams. Bytes are
  // consumed from it as they arrive (per-stream windows do the back-pressure), so it
  // only needs to be large enough not to throttle a fast connection.
  uint32_t connection_window_bytes = 16777216;
  uint32_t upstream_max_idle_connections = 64;  // per shard and API, HTTP/1.1 pool
  uint32_t upstream_max_connections = 1024;     // per shard and API, any protocol
  // After a failed connect, new connections to that upstream wait this long, doubling
  // per consecutive failure up to the max; requests meanwhile fail fast (502).
  uint32_t upstream_reconnect_backoff_ms = 100;
  uint32_t upstream_reconnect_backoff_max_ms = 5000;
  uint32_t drain_timeout_ms = 30000;
  std::string access_log = "off";  // off | stdout | PATH
  uint32_t access_log_buffer_bytes = 262144;  // per shard; lines beyond it are dropped
  LogLevel log_level = LogLevel::Info;
};

struct Config {
  std::string path;  // the file it was loaded from
  GatewayConfig gateway;
  std::vector<ApiConfig> apis;
};

// One problem found while loading, reported as "FILE:LINE: message".
struct ConfigError {
  int line = 0;  // 0 when the problem is not tied to a line (e.g. file unreadable)
  std::string message;
};

struct ConfigLoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
};

// Loads and validates every key. Unknown sections and keys, bad values, missing
// required keys and unresolvable hosts are errors; all of them are collected.
ConfigLoadResult load_config(const std::string& path);

// Same, from text in memory (used by tests); |path| is only used in messages.
ConfigLoadResult load_config_text(const std::string& text, const std::string& path);

// "FILE:LINE: message" (or "FILE: message" for line 0).
std::string format_config_error(const std::string& path, const ConfigError& error);

}  // namespace ringway
