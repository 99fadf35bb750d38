#pragma once
// Typed configuration filled from the INI file (DESIGN.md §4). config/ is the only
// code that reads raw INI text; everything else reads these structs, which are
// immutable once loaded and shared read-only by all shards.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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

enum class UpstreamProtocol : uint8_t { Http1, Http2 };

// A parsed target_url. http:// is HTTP/1.1 keep-alive, h2c:// is cleartext HTTP/2 with
// prior knowledge, https:// is TLS: HTTP/2 (ALPN h2) when the API sets
// proxy_enable_http2, else HTTP/1.1 (ALPN http/1.1).
struct TargetUrl {
  UpstreamProtocol protocol = UpstreamProtocol::Http1;
  bool tls = false;
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
  bool proxy_enable_http2 = false;  // https:// -> h2 over TLS; http:// stays HTTP/1.1
  std::vector<std::string> hosts;   // lower-case; empty = any host
  bool preserve_host_header = false;
  // Fault injection (Envoy's fault filter): hold fault_delay_percent of the requests
  // fault_delay_ms before they go upstream, to see how clients and deadlines cope.
  uint32_t fault_delay_ms = 0;  // 0 = off
  uint32_t fault_delay_percent = 100;
  bool use_keyless = false;
  // Basic auth (RFC 7617 in Authorization) against the key store's users.
  bool use_basic_auth = false;
  // Token auth (Tyk's "standard auth"): the key in auth_header, "Bearer " optional.
  bool use_standard_auth = false;
  std::string auth_header = "authorization";  // lower-case
  // The credential headers are removed before the request goes upstream.
  bool strip_auth_data = true;
  // %2F / %5C in a request path: refused (400) unless the API allows them (they are
  // then forwarded still encoded).
  bool allow_encoded_slashes = false;
  // Mutual TLS: the client's certificate must verify against [tls] client_ca_file and,
  // when client_certificates is non-empty, its SHA-256 fingerprint must be listed.
  bool use_mutual_tls_auth = false;
  std::vector<std::string> client_certificates;  // 64 lower-case hex digits each
  // Upstream TLS (https:// targets only).
  bool tls_insecure_skip_verify = false;
  std::string upstream_ca_file;    // empty = the system trust store
  std::string upstream_cert_file;  // client certificate for upstream mTLS
  std::string upstream_key_file;
  // Rich plugins ([coprocess]): hook names in the order they run, each one Dispatch
  // call. pre runs before authentication, auth_check is the authentication (with
  // enable_coprocess_auth), post_key_auth right after it, post just before the
  // upstream, response on the upstream's response.
  std::vector<std::string> pre_hooks;
  std::vector<std::string> post_key_auth_hooks;
  std::vector<std::string> post_hooks;
  std::vector<std::string> response_hooks;
  std::string auth_check;
  bool enable_coprocess_auth = false;
  // The API's config_data (a JSON object), as plugins receive it in spec.config_data:
  // compact JSON text, "" when not set.
  std::string config_data;
  std::string org_id;  // Tyk's org_id: spec.OrgID, and custom-auth sessions' org_id
  bool has_plugin_hooks() const {
    return !pre_hooks.empty() || !post_key_auth_hooks.empty() || !post_hooks.empty() ||
           !response_hooks.empty() || enable_coprocess_auth;
  }
};

// [tls.NAME]: a certificate for clients whose SNI matches server_names.
struct TlsSniSection {
  std::string name;
  int line = 0;
  std::vector<std::string> server_names;
  std::string cert_file;
  std::string key_file;
};

// [tls]: the downstream TLS listener(s) of tls_listen. File paths are absolute
// (relative ones are resolved against the config file's directory).
struct TlsConfig {
  bool present = false;  // the section exists
  int line = 0;
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // non-empty: request client certificates
  bool min_version_13 = false;  // min_version = 1.3 (default 1.2)
  bool session_tickets = true;
  // A fresh ticket key every rotation period; tickets stay valid for two periods.
  uint32_t session_ticket_rotation_s = 3600;
  uint32_t handshake_timeout_ms = 10000;
  // Dynamic record sizing: small records (about one TCP segment) for the first
  // record_warmup_bytes of a connection and again after record_idle_ms of silence,
  // so the first bytes can be decrypted early; full 16 KiB records for bulk.
  uint32_t record_warmup_bytes = 1048576;
  uint32_t record_idle_ms = 1000;
  std::vector<TlsSniSection> sni;
};

enum class LogLevel : uint8_t { Debug, Info, Warn, Error };

// An address block of trusted_proxies: |prefix_len| leading bits of |bytes| (4 bytes
// used for IPv4, 16 for IPv6).
struct IpPrefix {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t bytes[16] = {};
  uint8_t prefix_len = 0;
  std::string text;  // as written
  // |address|: a numeric IPv4 or IPv6 address (as DownstreamInfo::client_address).
  bool contains(std::string_view address) const;
};

struct GatewayConfig {
  std::vector<SockAddr> listen;      // cleartext listeners
  std::vector<SockAddr> tls_listen;  // TLS listeners ([tls] required)
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
  // A request the upstream did not process (REFUSED_STREAM, above a GOAWAY's
  // last-stream-id, a keep-alive connection closed as it was reused) is sent again on
  // another connection up to this many times.
  uint32_t upstream_max_retries = 3;
  // Request body bytes kept after sending them so such a request can be sent again;
  // a longer body makes the request not retryable.
  uint32_t upstream_retry_buffer_bytes = 65536;
  // Messages each shard-to-shard (and control-to-shard) mailbox holds (power of two).
  uint32_t mailbox_capacity = 1024;
  uint32_t drain_timeout_ms = 30000;
  // Request paths are normalised before routing (http/path_normalize.h); this also
  // merges runs of '/'.
  bool merge_slashes = true;
  // Hardening limits (conf/ringway.ini says what each one does at its bound).
  // Per connection: bytes queued for the socket above which the connection stops
  // reading (and stops feeding its HTTP/2 session) until the queue drains.
  uint32_t send_queue_bytes = 1048576;
  // A connection with bytes to send and no write progress for this long is closed.
  uint32_t send_timeout_ms = 60000;
  // Per shard: bytes held in connection and stream buffers beyond which new requests
  // get 503 / UNAVAILABLE (requests already going on keep going).
  uint32_t max_memory_bytes = 1073741824;
  // Per shard: freed 16 KiB heap blocks kept for reuse (a burst's worth, up to this).
  uint32_t block_cache_bytes = 16777216;
  // HTTP/2 misbehaviour ("glitches": resets, empty frames, floods) each take one token
  // from a bucket of http2_max_glitches refilled at http2_glitch_refill_per_s; an
  // empty bucket ends the connection with GOAWAY(ENHANCE_YOUR_CALM).
  uint32_t http2_max_glitches = 1000;
  uint32_t http2_glitch_refill_per_s = 100;
  // Our SETTINGS must be acknowledged within this (else GOAWAY(SETTINGS_TIMEOUT)).
  uint32_t settings_ack_timeout_ms = 10000;
  // A response body that stops for this long is aborted (not gRPC streams).
  uint32_t upstream_read_timeout_ms = 60000;
  // A request body that stops for this long ends in 408.
  uint32_t client_body_timeout_ms = 60000;
  // Largest request body (413 / RESOURCE_EXHAUSTED beyond); 0 = no limit.
  uint32_t max_request_body_bytes = 0;
  // HTTP/1.1: bytes of chunk extensions per chunk (400 beyond).
  uint32_t max_chunk_extension_bytes = 256;
  // Clients whose x-forwarded-for / x-forwarded-proto are kept (extended); from any
  // other client they are replaced.
  std::vector<IpPrefix> trusted_proxies;
  std::string access_log = "off";  // off | stdout | PATH
  uint32_t access_log_buffer_bytes = 262144;  // per shard; lines beyond it are dropped
  LogLevel log_level = LogLevel::Info;
};

// [admin]: the admin listener (/hello, /metrics, Tyk's /tyk/ API). Off unless the
// section is present.
struct AdminConfig {
  bool enabled = false;  // the section exists
  int line = 0;
  std::vector<SockAddr> listen;  // default 127.0.0.1:8081
  // Required in x-tyk-authorization for everything under /tyk/; empty = /tyk/ is
  // refused (403) altogether.
  std::string secret;
  // How long /metrics waits for the other shards' counters.
  uint32_t collect_timeout_ms = 1000;
  // Request bodies the admin API reads (Tyk's key API sends JSON); more is 413.
  uint32_t max_body_bytes = 1048576;
};

// [store]: where keys and Basic-auth users live, and how shards cache the answers.
// The store runs (a thread, plus bcrypt workers) when the section is present or an
// API uses Basic or token auth.
struct StoreConfig {
  bool present = false;  // the section exists
  int line = 0;
  std::string backend = "sqlite";
  std::string path = "/var/lib/ringway/keys.db";  // absolute once loaded
  // Per shard: decisions cached (positive and negative) and for how long.
  uint32_t cache_entries = 65536;
  uint32_t cache_ttl_ms = 10000;
  // Distinct credentials a shard may be waiting on the store for; beyond, 503 / 14.
  uint32_t max_pending_lookups = 1024;
  // A request waiting longer than this for the store gets 503 / 14.
  uint32_t lookup_timeout_ms = 2000;
  // Password checks: worker threads, checks waiting for one (beyond: 503 / 14), and
  // the bcrypt cost of passwords hashed on write.
  uint32_t bcrypt_workers = 2;
  uint32_t bcrypt_queue = 64;
  uint32_t bcrypt_cost = 10;
  // Rate-limit buckets per shard (least recently used dropped beyond).
  uint32_t rate_limit_keys = 65536;
  // How often each shard sends its quota counts to the store.
  uint32_t quota_flush_ms = 100;
};

// [coprocess]: the rich-plugin server (Tyk's coprocess.Dispatcher over gRPC). Each
// shard calls it on its own HTTP/2 connection.
struct CoprocessConfig {
  bool present = false;  // the section exists
  int line = 0;
  // Off: hooks are not installed (as in Tyk), and an API that authenticates with a
  // plugin is a --check error rather than left open.
  bool enable_coprocess = true;
  std::string server;     // coprocess_grpc_server as written
  bool unix_socket = false;
  SockAddr address;       // resolved (AF_INET/AF_INET6) or the socket path (AF_UNIX)
  std::string authority;  // grpc_authority, else host:port, else localhost
  uint32_t timeout_ms = 1000;  // every call's deadline (grpc-timeout)
  uint32_t grpc_recv_max_size = 4194304;  // largest reply message accepted
  uint32_t grpc_send_max_size = 4194304;  // largest message sent (so: largest body buffered)
  bool on_error_allow = false;  // on_error = allow: a failed call lets the request on
  uint32_t max_in_flight = 1024;  // calls out per shard; beyond, 503 / UNAVAILABLE
  uint32_t max_connections = 4;   // per shard to the plugin server
  // Tyk's cp_dynamic_handler: AuthFailure events go to DispatchEvent with this
  // handler_name. Empty: no events.
  std::string event_handler;
  bool active() const { return present && enable_coprocess; }
};

struct Config {
  std::string path;  // the file it was loaded from
  GatewayConfig gateway;
  TlsConfig tls;
  AdminConfig admin;
  StoreConfig store;
  CoprocessConfig coprocess;
  std::vector<ApiConfig> apis;
};

// One problem found while loading, reported as "FILE:LINE: message".
// True when the key store must run for |config| ([store] present, or an API uses
// Basic or token auth).
bool config_needs_store(const Config& config);

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

// Keys whose new values only a restart applies (shard count, ring and buffer sizes,
// the access log, the ticket rotation period): sets them in |loaded| back to their
// running values and returns the ones that differed ("[gateway] shards", ...).
std::vector<std::string> keep_restart_only_values(const Config& running, Config& loaded);

// "FILE:LINE: message" (or "FILE: message" for line 0).
std::string format_config_error(const std::string& path, const ConfigError& error);

}  // namespace ringway
