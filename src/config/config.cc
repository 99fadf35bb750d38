// Loads the INI file in two passes: inih splits lines into sections and key/value
// pairs (with our reader numbering the lines, since Debian's inih is built without
// INI_HANDLER_LINENO), then a validator turns the raw entries into typed structs,
// collecting every problem instead of stopping at the first.

#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <sys/stat.h>

#include "config/ini.h"
#include "config/sections.h"
#include "config/values.h"
#include "tls/tls_context.h"

namespace ringway {
namespace {

// ---------------------------------------------------------------------------------
// Pass 2: validation into typed structs.

// A numeric key of section struct |Section| and its allowed range.
template <typename Section>
struct UintKey {
  const char* name;
  uint32_t Section::*field;
  uint32_t min;
  uint32_t max;
};

// Ranges are documented next to each key in conf/ringway.ini; keep the two in step.
constexpr UintKey<GatewayConfig> kGatewayUintKeys[] = {
    {"ring_entries", &GatewayConfig::ring_entries, 64, 32768},
    {"buffer_size", &GatewayConfig::buffer_size, 1024, 1048576},
    {"buffer_count", &GatewayConfig::buffer_count, 16, 32768},
    {"max_connections", &GatewayConfig::max_connections, 1, 1000000},
    {"idle_timeout_ms", &GatewayConfig::idle_timeout_ms, 10, 86400000},
    {"request_header_timeout_ms", &GatewayConfig::request_header_timeout_ms, 10, 3600000},
    {"upstream_connect_timeout_ms", &GatewayConfig::upstream_connect_timeout_ms, 10, 600000},
    {"upstream_timeout_ms", &GatewayConfig::upstream_timeout_ms, 10, 86400000},
    {"max_header_bytes", &GatewayConfig::max_header_bytes, 1024, 1048576},
    {"max_concurrent_streams", &GatewayConfig::max_concurrent_streams, 1, 10000},
    {"stream_buffer_bytes", &GatewayConfig::stream_buffer_bytes, 16384, 268435456},
    {"connection_window_bytes", &GatewayConfig::connection_window_bytes, 65535, 2147483647},
    {"upstream_max_idle_connections", &GatewayConfig::upstream_max_idle_connections, 0, 100000},
    {"upstream_max_connections", &GatewayConfig::upstream_max_connections, 1, 100000},
    {"upstream_reconnect_backoff_ms", &GatewayConfig::upstream_reconnect_backoff_ms, 0, 600000},
    {"upstream_reconnect_backoff_max_ms", &GatewayConfig::upstream_reconnect_backoff_max_ms, 0,
     3600000},
    {"upstream_max_retries", &GatewayConfig::upstream_max_retries, 0, 16},
    {"upstream_retry_buffer_bytes", &GatewayConfig::upstream_retry_buffer_bytes, 0, 16777216},
    {"mailbox_capacity", &GatewayConfig::mailbox_capacity, 16, 65536},
    {"drain_timeout_ms", &GatewayConfig::drain_timeout_ms, 0, 3600000},
    {"access_log_buffer_bytes", &GatewayConfig::access_log_buffer_bytes, 4096, 67108864},
    {"send_queue_bytes", &GatewayConfig::send_queue_bytes, 16384, 268435456},
    {"send_timeout_ms", &GatewayConfig::send_timeout_ms, 10, 86400000},
    {"max_memory_bytes", &GatewayConfig::max_memory_bytes, 1048576, 4294967295u},
    {"http2_max_glitches", &GatewayConfig::http2_max_glitches, 1, 1000000},
    {"http2_glitch_refill_per_s", &GatewayConfig::http2_glitch_refill_per_s, 0, 1000000},
    {"settings_ack_timeout_ms", &GatewayConfig::settings_ack_timeout_ms, 10, 600000},
    {"upstream_read_timeout_ms", &GatewayConfig::upstream_read_timeout_ms, 10, 86400000},
    {"client_body_timeout_ms", &GatewayConfig::client_body_timeout_ms, 10, 86400000},
    {"max_request_body_bytes", &GatewayConfig::max_request_body_bytes, 0, 4294967295u},
    {"max_chunk_extension_bytes", &GatewayConfig::max_chunk_extension_bytes, 0, 65536},
    {"block_cache_bytes", &GatewayConfig::block_cache_bytes, 0, 1073741824},
};

struct BoolKey {
  const char* name;
  bool GatewayConfig::*field;
};

constexpr BoolKey kGatewayBoolKeys[] = {
    {"enable_http2", &GatewayConfig::enable_http2},
    {"pin_shards", &GatewayConfig::pin_shards},
    {"merge_slashes", &GatewayConfig::merge_slashes},
};

constexpr uint32_t kShardsMax = 1024;

// Hooks per list: each is a plugin call on every request of the API.
constexpr size_t kMaxHooksPerList = 16;

// A plugin hook's name (what plugins switch on): letters, digits and _ . : -.
bool is_valid_hook_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
           c == '-';
  });
}

constexpr UintKey<TlsConfig> kTlsUintKeys[] = {
    {"session_ticket_rotation_s", &TlsConfig::session_ticket_rotation_s, 60, 604800},
    {"handshake_timeout_ms", &TlsConfig::handshake_timeout_ms, 10, 600000},
    {"record_warmup_bytes", &TlsConfig::record_warmup_bytes, 0, 1073741824},
    {"record_idle_ms", &TlsConfig::record_idle_ms, 0, 3600000},
};

// "ab:CD:..." -> "abcd..."; empty when it is not 32 bytes of hex.
std::string normalise_fingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out.size() == 64 ? out : std::string();
}

// RFC 9110 token characters a header name sensibly uses.
bool is_header_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

bool is_valid_api_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), is_host_char);
}

class Validator {
 public:
  Validator(std::vector<ConfigError>& errors, std::string base_dir)
      : errors_(errors), base_dir_(std::move(base_dir)) {}

  void run(const RawIni& raw, Config& config) {
    std::map<std::string, int> first_line;  // section name -> header line
    for (const RawSection& section : raw.sections) {
      auto [it, inserted] = first_line.emplace(section.name, section.line);
      if (!inserted) {
        error(section.line, "duplicate section [" + section.name + "] (first at line " +
                                std::to_string(it->second) + ")");
        continue;
      }
      if (section.name == "gateway") {
        gateway_section(section, config.gateway);
      } else if (section.name.rfind("api.", 0) == 0) {
        api_section(section, config);
      } else if (section.name == "tls") {
        tls_section(section, config.tls);
      } else if (section.name == "admin") {
        parse_admin_section(section, config.admin, errors_);
      } else if (section.name == "store") {
        parse_store_section(section, base_dir_, config.store, errors_);
      } else if (section.name.rfind("tls.", 0) == 0) {
        tls_sni_section(section, config.tls);
      } else if (section.name == "coprocess") {
        parse_coprocess_section(section, config.coprocess, errors_);
      } else if (section.name == "api") {
        error(section.line, "unknown section [api]; APIs are declared as [api.NAME]");
      } else {
        error(section.line, "unknown section [" + section.name +
                                "] (expected [gateway] or [api.NAME])");
      }
    }
    if (config.gateway.tls_listen.empty()) default_listen(config.gateway);
    check_tls(config);
    check_listeners(config);
    if (api_sections_ == 0) {
      error(0, "no [api.NAME] section: there is nothing to route");
    }
    check_route_overlap(config);
    check_store(config);
    check_plugins(config);
  }

 private:
  void error(int line, std::string message) { errors_.push_back({line, std::move(message)}); }

  std::vector<const RawEntry*> unique_entries(const RawSection& section, const std::string& prefix) {
    return ringway::unique_entries(section, prefix, errors_);
  }

  bool bool_value(const RawEntry& entry, const std::string& prefix, bool& out) {
    if (parse_bool(entry.value, out)) return true;
    error(entry.line, prefix + entry.key + ": '" + entry.value +
                          "' is not a boolean (use true/false, yes/no, on/off or 1/0)");
    return false;
  }

  // Sets |entry| if it is one of |specs| (reporting a bad value); false otherwise.
  template <typename Section, size_t N>
  bool uint_key(const RawEntry& entry, const UintKey<Section> (&specs)[N],
                const std::string& prefix, Section& section) {
    for (const UintKey<Section>& spec : specs) {
      if (entry.key != spec.name) continue;
      uint64_t value = 0;
      std::string why;
      if (!parse_uint(entry.key, entry.value, spec.min, spec.max, value, why)) {
        error(entry.line, prefix + why);
      } else if ((entry.key == "buffer_count" || entry.key == "mailbox_capacity") &&
                 (value & (value - 1)) != 0) {
        // The provided-buffer ring and the mailboxes index with a mask.
        error(entry.line, entry.key + " must be a power of two, got " + entry.value);
      } else {
        section.*spec.field = static_cast<uint32_t>(value);
      }
      return true;
    }
    return false;
  }

  void gateway_section(const RawSection& section, GatewayConfig& gateway) {
    for (const RawEntry* entry_ptr : unique_entries(section, "")) {
      const RawEntry& entry = *entry_ptr;
      const std::string& key = entry.key;
      std::string why;
      bool handled = uint_key(entry, kGatewayUintKeys, "", gateway);
      for (const BoolKey& spec : kGatewayBoolKeys) {
        if (key != spec.name) continue;
        handled = true;
        bool value = false;
        if (bool_value(entry, "", value)) gateway.*spec.field = value;
      }
      if (handled) continue;
      if (key == "listen") {
        listen_line_ = entry.line;
        listen_value(entry, gateway.listen);
      } else if (key == "tls_listen") {
        tls_listen_line_ = entry.line;
        listen_value(entry, gateway.tls_listen);
      } else if (key == "shards") {
        uint64_t value = 0;
        if (iequals_ascii(entry.value, "auto")) {
          gateway.shards = 0;
        } else if (parse_uint(key, entry.value, 1, kShardsMax, value, why)) {
          gateway.shards = static_cast<uint32_t>(value);
        } else {
          error(entry.line, "shards must be auto or a number between 1 and " +
                                std::to_string(kShardsMax) + ", got '" + entry.value + "'");
        }
      } else if (key == "trusted_proxies") {
        gateway.trusted_proxies.clear();
        for (std::string_view item : split_list(entry.value)) {
          IpPrefix prefix;
          if (parse_ip_prefix(item, prefix, why)) {
            gateway.trusted_proxies.push_back(std::move(prefix));
          } else {
            error(entry.line, "trusted_proxies: " + why);
          }
        }
      } else if (key == "access_log") {
        std::string lower = to_lower(entry.value);
        if (lower == "off" || lower == "stdout") {
          gateway.access_log = lower;
        } else if (!entry.value.empty() && entry.value.front() == '/') {
          gateway.access_log = entry.value;
        } else {
          error(entry.line, "access_log must be off, stdout or an absolute file path, got '" +
                                entry.value + "'");
        }
      } else if (key == "log_level") {
        std::string lower = to_lower(entry.value);
        if (lower == "debug") {
          gateway.log_level = LogLevel::Debug;
        } else if (lower == "info") {
          gateway.log_level = LogLevel::Info;
        } else if (lower == "warn" || lower == "warning") {
          gateway.log_level = LogLevel::Warn;
        } else if (lower == "error") {
          gateway.log_level = LogLevel::Error;
        } else {
          error(entry.line, "log_level must be debug, info, warn or error, got '" +
                                entry.value + "'");
        }
      } else {
        error(entry.line, "unknown key '" + key + "' in [gateway]");
      }
    }
  }

  void listen_value(const RawEntry& entry, std::vector<SockAddr>& listen) {
    std::vector<std::string> whys;
    listen = parse_listen_list(entry.key, entry.value, whys);
    for (std::string& why : whys) error(entry.line, std::move(why));
  }


  // The store's file is created on first start, but its directory must exist (as TLS
  // files must): --check says so rather than the start failing later.
  void check_store(const Config& config) {
    if (!config_needs_store(config)) return;
    const std::string& path = config.store.path;
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    if (dir.empty()) dir = "/";
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      error(config.store.present ? config.store.line : 0,
            "[store] path " + path + ": directory " + dir + " does not exist" +
                (config.store.present ? "" : " (the default; set [store] path)"));
    }
  }

  void default_listen(GatewayConfig& gateway) {
    if (!gateway.listen.empty()) return;
    SockAddr address;
    address.text = "0.0.0.0:8080";
    std::string why;
    if (resolve("0.0.0.0", 8080, true, address, why)) gateway.listen.push_back(address);
  }

  void api_section(const RawSection& section, Config& config) {
    ++api_sections_;
    ApiConfig api;
    api.name = section.name.substr(4);
    api.line = section.line;
    std::string prefix = "api " + api.name + ": ";
    bool ok = true;
    if (!is_valid_api_name(api.name)) {
      error(section.line, "[" + section.name +
                              "]: API names use letters, digits, '-', '_' and '.' (1 to 128)");
      ok = false;
    }
    bool have_listen_path = false, have_target = false, auth_requested = false;
    ApiLines lines;
    lines.target = section.line;
    for (const RawEntry* entry_ptr : unique_entries(section, prefix)) {
      const RawEntry& entry = *entry_ptr;
      const std::string& key = entry.key;
      std::string why;
      if (key == "listen_path") {
        have_listen_path = true;
        if (!listen_path_value(entry, prefix, api.listen_path)) ok = false;
      } else if (key == "target_url") {
        have_target = true;
        lines.target = entry.line;
        if (!parse_target_url(entry.value, api.target, why)) {
          error(entry.line, prefix + why);
          ok = false;
        }
      } else if (key == "hosts") {
        if (!hosts_value(entry, prefix, api.hosts)) ok = false;
      } else if (key == "strip_listen_path") {
        ok &= bool_value(entry, prefix, api.strip_listen_path);
      } else if (key == "proxy_enable_http2") {
        ok &= bool_value(entry, prefix, api.proxy_enable_http2);
      } else if (key == "preserve_host_header") {
        ok &= bool_value(entry, prefix, api.preserve_host_header);
      } else if (key == "fault_delay_ms" || key == "fault_delay_percent") {
        uint64_t value = 0;
        bool ms = key == "fault_delay_ms";
        if (parse_uint(key, entry.value, 0, ms ? 600000 : 100, value, why)) {
          (ms ? api.fault_delay_ms : api.fault_delay_percent) = static_cast<uint32_t>(value);
        } else {
          error(entry.line, prefix + why);
          ok = false;
        }
      } else if (key == "use_keyless") {
        ok &= bool_value(entry, prefix, api.use_keyless);
        lines.keyless = entry.line;
      } else if (key == "use_basic_auth" || key == "use_standard_auth") {
        bool& field = key == "use_basic_auth" ? api.use_basic_auth : api.use_standard_auth;
        if (!bool_value(entry, prefix, field)) {
          ok = false;
          auth_requested = true;  // unreadable: do not also claim no mode was set
        }
        auth_requested |= field;
        (key == "use_basic_auth" ? lines.basic : lines.standard) = entry.line;
      } else if (key == "auth_header") {
        if (entry.value.empty()) continue;  // as absent: Authorization
        lines.auth_header = entry.line;
        if (!std::all_of(entry.value.begin(), entry.value.end(), is_header_name_char)) {
          error(entry.line, prefix + "auth_header: '" + entry.value +
                                "' is not a header name (letters, digits, '-', '_')");
          ok = false;
        } else {
          api.auth_header = to_lower(entry.value);
        }
      } else if (key == "strip_auth_data") {
        ok &= bool_value(entry, prefix, api.strip_auth_data);
      } else if (key == "allow_encoded_slashes") {
        ok &= bool_value(entry, prefix, api.allow_encoded_slashes);
      } else if (key == "use_mutual_tls_auth") {
        ok &= bool_value(entry, prefix, api.use_mutual_tls_auth);
        auth_requested |= api.use_mutual_tls_auth;
        lines.mtls = entry.line;
      } else if (key == "client_certificates") {
        lines.client_certificates = entry.line;
        if (!trim(entry.value).empty()) {
          for (std::string_view item : split_list(entry.value)) {
            std::string fp = normalise_fingerprint(item);
            if (fp.empty()) {
              error(entry.line, prefix + "client_certificates: '" + std::string(item) +
                                    "' is not a SHA-256 fingerprint (64 hex digits, ':' allowed)");
              ok = false;
            } else if (std::find(api.client_certificates.begin(), api.client_certificates.end(),
                                 fp) == api.client_certificates.end()) {
              api.client_certificates.push_back(std::move(fp));
            }
          }
        }
      } else if (key == "tls_insecure_skip_verify") {
        ok &= bool_value(entry, prefix, api.tls_insecure_skip_verify);
        lines.upstream_tls = entry.line;
      } else if (key == "upstream_ca_file") {
        api.upstream_ca_file = path_value(entry.value);
        lines.upstream_tls = lines.ca = entry.line;
      } else if (key == "upstream_cert_file") {
        api.upstream_cert_file = path_value(entry.value);
        lines.upstream_tls = lines.cert = entry.line;
      } else if (key == "upstream_key_file") {
        api.upstream_key_file = path_value(entry.value);
        lines.upstream_tls = lines.key = entry.line;
      } else if (key == "pre" || key == "post_key_auth" || key == "post" ||
                 key == "response") {
        std::vector<std::string>& hooks = key == "pre"             ? api.pre_hooks
                                          : key == "post_key_auth" ? api.post_key_auth_hooks
                                          : key == "post"          ? api.post_hooks
                                                                   : api.response_hooks;
        if (key == "post_key_auth") lines.post_key_auth = entry.line;
        ok &= hook_list(entry, prefix, hooks);
      } else if (key == "auth_check") {
        lines.auth_check = entry.line;
        if (entry.value.empty()) continue;
        if (!is_valid_hook_name(entry.value)) {
          error(entry.line, prefix + "auth_check: '" + entry.value +
                                "' is not a hook name (letters, digits, _ . : -)");
          ok = false;
        } else {
          api.auth_check = entry.value;
        }
      } else if (key == "enable_coprocess_auth") {
        lines.coprocess_auth = entry.line;
        if (!bool_value(entry, prefix, api.enable_coprocess_auth)) {
          ok = false;
          auth_requested = true;  // unreadable: do not also claim no mode was set
        }
        auth_requested |= api.enable_coprocess_auth;
      } else if (key == "config_data") {
        if (!parse_config_data(entry.value, &api.config_data, &why)) {
          error(entry.line, prefix + why);
          ok = false;
        }
      } else if (key == "org_id") {
        api.org_id = entry.value;
      } else {
        error(entry.line, prefix + "unknown key '" + key + "'");
        ok = false;
      }
    }
    if (!have_listen_path) {
      error(section.line, prefix + "listen_path is required");
      ok = false;
    }
    if (!have_target) {
      error(section.line, prefix + "target_url is required");
      ok = false;
    }
    if (!api.use_keyless && !auth_requested) {
      error(section.line, prefix + "no authentication mode set; set use_keyless = true, or "
                                   "one or more of use_basic_auth, use_standard_auth, "
                                   "use_mutual_tls_auth and enable_coprocess_auth");
      ok = false;
    }
    if (api.use_keyless && auth_requested) {
      error(lines.keyless, prefix + "use_keyless = true contradicts the authentication "
                                    "mode(s) also set; choose one");
      ok = false;
    }
    if (api.use_basic_auth && api.use_standard_auth && api.auth_header == "authorization") {
      error(lines.standard, prefix + "use_basic_auth and use_standard_auth would both read "
                                     "Authorization; set auth_header to another header");
      ok = false;
    }
    if (api.enable_coprocess_auth && api.auth_check.empty()) {
      error(lines.coprocess_auth, prefix + "enable_coprocess_auth needs auth_check (the hook "
                                           "that authenticates)");
      ok = false;
    }
    if (!api.auth_check.empty() && !api.enable_coprocess_auth) {
      error(lines.auth_check, prefix + "auth_check needs enable_coprocess_auth = true");
      ok = false;
    }
    if (!api.post_key_auth_hooks.empty() && api.use_keyless) {
      error(lines.post_key_auth, prefix + "post_key_auth hooks run after authentication; "
                                          "this API is keyless (use pre or post)");
      ok = false;
    }
    if (lines.auth_header != 0 && !api.use_standard_auth && !api.enable_coprocess_auth) {
      error(lines.auth_header, prefix + "auth_header needs use_standard_auth = true (or "
                                        "enable_coprocess_auth, whose cache it keys)");
      ok = false;
    }
    if (!api.client_certificates.empty() && !api.use_mutual_tls_auth) {
      error(lines.client_certificates,
            prefix + "client_certificates needs use_mutual_tls_auth = true");
      ok = false;
    }
    if (api.use_mutual_tls_auth) mtls_lines_.push_back({lines.mtls, prefix});
    if (have_target && api.target.tls && api.proxy_enable_http2) {
      api.target.protocol = UpstreamProtocol::Http2;
    }
    if (have_target && !api.target.tls && lines.upstream_tls != 0) {
      error(lines.upstream_tls, prefix + "tls_insecure_skip_verify and upstream_*_file "
                                         "apply to https:// targets only");
      ok = false;
    }
    if (ok && api.target.tls && !upstream_tls_ok(api, lines, prefix)) ok = false;
    if (ok) {
      config.apis.push_back(std::move(api));
    } else if (have_listen_path && !api.listen_path.empty()) {
      // Still checked for overlaps so one pass reports as much as possible.
      rejected_apis_.push_back(std::move(api));
    }
  }

  // Lines of the keys an API's later checks point at.
  struct ApiLines {
    int target = 0;
    int mtls = 0;
    int client_certificates = 0;
    int upstream_tls = 0;
    int ca = 0;
    int cert = 0;
    int key = 0;
    int keyless = 0;
    int basic = 0;
    int standard = 0;
    int auth_header = 0;
    int auth_check = 0;
    int coprocess_auth = 0;
    int post_key_auth = 0;
  };

  bool hook_list(const RawEntry& entry, const std::string& prefix,
                 std::vector<std::string>& hooks) {
    hooks.clear();
    if (trim(entry.value).empty()) return true;
    bool ok = true;
    for (std::string_view item : split_list(entry.value)) {
      if (!is_valid_hook_name(item)) {
        error(entry.line, prefix + entry.key + ": '" + std::string(item) +
                              "' is not a hook name (letters, digits, _ . : -)");
        ok = false;
      } else {
        hooks.emplace_back(item);
      }
    }
    if (hooks.size() > kMaxHooksPerList) {
      error(entry.line, prefix + entry.key + ": at most " + std::to_string(kMaxHooksPerList) +
                            " hooks");
      ok = false;
    }
    return ok;
  }

  // Hooks need a plugin server; a plugin that authenticates must really run (fail
  // closed), while other hooks are simply not installed when enable_coprocess = false.
  void check_plugins(const Config& config) {
    for (const ApiConfig& api : config.apis) {
      if (!api.has_plugin_hooks()) continue;
      const std::string prefix = "api " + api.name + ": ";
      if (!config.coprocess.present) {
        error(api.line, prefix + "plugin hooks need a [coprocess] section with "
                                 "coprocess_grpc_server");
      } else if (!config.coprocess.enable_coprocess && api.enable_coprocess_auth) {
        error(api.line, prefix + "enable_coprocess_auth needs [coprocess] "
                                 "enable_coprocess = true (the API would be left open)");
      }
    }
  }

  // Relative paths are relative to the config file's directory.
  std::string path_value(const std::string& value) const {
    if (value.empty() || value.front() == '/' || base_dir_.empty()) return value;
    return base_dir_ + "/" + value;
  }

  // Builds the upstream TLS context once, so bad files are --check errors.
  bool upstream_tls_ok(const ApiConfig& api, const ApiLines& lines, const std::string& prefix) {
    TlsClientConfig client;
    client.ca_file = api.upstream_ca_file;
    client.insecure_skip_verify = api.tls_insecure_skip_verify;
    client.cert_file = api.upstream_cert_file;
    client.key_file = api.upstream_key_file;
    client.offer_h2 = api.proxy_enable_http2;
    TlsClientContextResult r = TlsClientContext::create(client);
    if (r.context) return true;
    int line = lines.target;
    if (r.error.rfind("upstream_ca_file", 0) == 0) {
      line = lines.ca;
    } else if (r.error.rfind("upstream_cert_file", 0) == 0) {
      line = lines.cert ? lines.cert : lines.key;
    } else if (r.error.rfind("upstream_key_file", 0) == 0) {
      line = lines.key ? lines.key : lines.cert;
    }
    error(line, prefix + r.error);
    return false;
  }

  void tls_section(const RawSection& section, TlsConfig& tls) {
    tls.present = true;
    tls.line = section.line;
    const std::string prefix = "[tls] ";
    for (const RawEntry* entry_ptr : unique_entries(section, prefix)) {
      const RawEntry& entry = *entry_ptr;
      const std::string& key = entry.key;
      if (uint_key(entry, kTlsUintKeys, prefix, tls)) continue;
      if (key == "cert_file") {
        tls.cert_file = path_value(entry.value);
        tls_lines_.cert = entry.line;
      } else if (key == "key_file") {
        tls.key_file = path_value(entry.value);
        tls_lines_.key = entry.line;
      } else if (key == "client_ca_file") {
        tls.client_ca_file = path_value(entry.value);
        tls_lines_.ca = entry.line;
      } else if (key == "min_version") {
        std::string v = to_lower(entry.value);
        if (v == "1.2" || v == "tlsv1.2") {
          tls.min_version_13 = false;
        } else if (v == "1.3" || v == "tlsv1.3") {
          tls.min_version_13 = true;
        } else {
          error(entry.line, prefix + "min_version must be 1.2 or 1.3, got '" + entry.value + "'");
        }
      } else if (key == "session_tickets") {
        bool_value(entry, prefix, tls.session_tickets);
      } else {
        error(entry.line, prefix + "unknown key '" + key + "'");
      }
    }
  }

  void tls_sni_section(const RawSection& section, TlsConfig& tls) {
    TlsSniSection sni;
    sni.name = section.name.substr(4);
    sni.line = section.line;
    const std::string prefix = "[" + section.name + "] ";
    SectionLines lines;
    for (const RawEntry* entry_ptr : unique_entries(section, prefix)) {
      const RawEntry& entry = *entry_ptr;
      if (entry.key == "server_names") {
        for (std::string_view item : split_list(entry.value)) {
          std::string name = to_lower(item);
          std::string_view bare = name.rfind("*.", 0) == 0 ? std::string_view(name).substr(2)
                                                           : std::string_view(name);
          if (bare.empty() || !std::all_of(bare.begin(), bare.end(), is_host_char) ||
              bare.find(':') != std::string_view::npos) {
            error(entry.line, prefix + "server_names: '" + std::string(item) +
                                  "' is not a host name or *.domain wildcard");
            continue;
          }
          sni.server_names.push_back(std::move(name));
        }
      } else if (entry.key == "cert_file") {
        sni.cert_file = path_value(entry.value);
        lines.cert = entry.line;
      } else if (entry.key == "key_file") {
        sni.key_file = path_value(entry.value);
        lines.key = entry.line;
      } else {
        error(entry.line, prefix + "unknown key '" + entry.key + "'");
      }
    }
    if (sni.server_names.empty()) error(section.line, prefix + "server_names is required");
    if (sni.cert_file.empty()) error(section.line, prefix + "cert_file is required");
    if (sni.key_file.empty()) error(section.line, prefix + "key_file is required");
    if (sni.server_names.empty() || sni.cert_file.empty() || sni.key_file.empty()) return;
    TlsServerConfig check;
    check.cert_file = sni.cert_file;
    check.key_file = sni.key_file;
    check_server_context(check, lines, prefix, section.line);
    tls.sni.push_back(std::move(sni));
  }

  struct SectionLines {
    int cert = 0;
    int key = 0;
    int ca = 0;
  };

  // Loads the files once so unreadable or mismatched ones are --check errors.
  // The certificate and key are checked first, the CA bundle then on its own, so a
  // problem in one does not hide a problem in the other.
  void check_server_context(const TlsServerConfig& server, const SectionLines& lines,
                            const std::string& prefix, int section_line) {
    TlsServerConfig cert_only = server;
    cert_only.client_ca_file.clear();
    bool cert_ok = check_one_server_context(cert_only, lines, prefix, section_line);
    if (server.client_ca_file.empty()) return;
    if (cert_ok) {
      check_one_server_context(server, lines, prefix, section_line);
    } else if (std::string e = tls_file_error("client_ca_file", server.client_ca_file);
               !e.empty()) {
      error(lines.ca ? lines.ca : section_line, prefix + e);
    }
  }

  bool check_one_server_context(const TlsServerConfig& server, const SectionLines& lines,
                                const std::string& prefix, int section_line) {
    TlsServerContextResult r = TlsServerContext::create(server);
    if (r.context) return true;
    int line = section_line;
    if (r.error.rfind("cert_file", 0) == 0) line = lines.cert;
    if (r.error.rfind("key_file", 0) == 0) line = lines.key;
    if (r.error.rfind("client_ca_file", 0) == 0) line = lines.ca;
    error(line ? line : section_line, prefix + r.error);
    return false;
  }

  void check_tls(const Config& config) {
    const TlsConfig& tls = config.tls;
    if (!config.gateway.tls_listen.empty() && !tls.present) {
      error(tls_listen_line_, "tls_listen needs a [tls] section with cert_file and key_file");
    }
    if (tls.present && config.gateway.tls_listen.empty()) {
      error(tls.line, "[tls] is set but [gateway] tls_listen is empty: nothing would use it");
    }
    if (!tls.sni.empty() && !tls.present) {
      error(tls.sni.front().line, "[tls." + tls.sni.front().name + "] needs a [tls] section");
    }
    if (tls.present) {
      bool files = true;
      if (tls.cert_file.empty()) {
        error(tls.line, "[tls] cert_file is required");
        files = false;
      }
      if (tls.key_file.empty()) {
        error(tls.line, "[tls] key_file is required");
        files = false;
      }
      if (files) {
        TlsServerConfig server;
        server.cert_file = tls.cert_file;
        server.key_file = tls.key_file;
        server.client_ca_file = tls.client_ca_file;
        check_server_context(server, tls_lines_, "[tls] ", tls.line);
      }
    }
    for (const auto& [line, prefix] : mtls_lines_) {
      if (tls.client_ca_file.empty()) {
        error(line, prefix + "use_mutual_tls_auth needs [tls] client_ca_file (and tls_listen)");
      }
    }
  }

  bool listen_path_value(const RawEntry& entry, const std::string& prefix, std::string& out) {
    const std::string& value = entry.value;
    if (value.empty() || value.front() != '/') {
      error(entry.line, prefix + "listen_path must start with '/', got '" + value + "'");
      return false;
    }
    bool clean = std::none_of(value.begin(), value.end(), [](char c) {
      return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#';
    });
    if (!clean) {
      error(entry.line,
            prefix + "listen_path must not contain spaces, control characters, '?' or '#'");
      return false;
    }
    out = value;
    return true;
  }

  bool hosts_value(const RawEntry& entry, const std::string& prefix,
                   std::vector<std::string>& hosts) {
    if (trim(entry.value).empty()) return true;  // any host
    bool ok = true;
    for (std::string_view item : split_list(entry.value)) {
      std::string host = to_lower(item);
      if (!host.empty() && host.back() == '.') host.pop_back();  // FQDN form
      std::string why;
      if (host.empty()) {
        why = "empty entry in hosts";
      } else if (host.front() == '[') {
        if (host.back() != ']' || host.find(':') == std::string::npos) {
          why = "hosts entry '" + host + "' is not a bracketed IPv6 address";
        }
      } else if (host.find(':') != std::string::npos) {
        why = "hosts entry '" + host + "' must not carry a port (hosts match any port; "
              "write IPv6 addresses in brackets)";
      } else if (!std::all_of(host.begin(), host.end(), is_host_char)) {
        why = "hosts entry '" + host + "' is not a valid host name";
      }
      if (!why.empty()) {
        error(entry.line, prefix + why);
        ok = false;
        continue;
      }
      if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    }
    return ok;
  }

  // An address may be listened on once: by listen, tls_listen or [admin] listen.
  void check_listeners(const Config& config) {
    std::map<std::string, std::string> owner;  // address text -> key
    auto claim = [&](const std::vector<SockAddr>& addresses, const std::string& key, int line) {
      for (const SockAddr& a : addresses) {
        std::string bytes(reinterpret_cast<const char*>(&a.storage), a.len);
        auto [it, inserted] = owner.emplace(bytes, key);
        if (!inserted) {
          error(line, key + ": " + a.text + " is already used by " + it->second);
        }
      }
    };
    claim(config.gateway.listen, "[gateway] listen", listen_line_);
    claim(config.gateway.tls_listen, "[gateway] tls_listen", tls_listen_line_);
    if (config.admin.enabled) claim(config.admin.listen, "[admin] listen", config.admin.line);
  }

  // Two APIs with the same listen_path must not both claim a host (or both claim any
  // host): the router could not choose between them.
  void check_route_overlap(const Config& config) {
    std::vector<const ApiConfig*> all;
    for (const ApiConfig& api : config.apis) all.push_back(&api);
    for (const ApiConfig& api : rejected_apis_) all.push_back(&api);
    std::sort(all.begin(), all.end(),
              [](const ApiConfig* a, const ApiConfig* b) { return a->line < b->line; });
    for (size_t i = 0; i < all.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        const ApiConfig& later = *all[i];
        const ApiConfig& earlier = *all[j];
        if (later.listen_path != earlier.listen_path) continue;
        std::string clash;
        if (later.hosts.empty() && earlier.hosts.empty()) {
          clash = "any host";
        } else {
          for (const std::string& host : later.hosts) {
            if (std::find(earlier.hosts.begin(), earlier.hosts.end(), host) !=
                earlier.hosts.end()) {
              clash = "host " + host;
              break;
            }
          }
        }
        if (clash.empty()) continue;
        error(later.line, "api " + later.name + ": listen_path " + later.listen_path + " for " +
                              clash + " is already routed to api " + earlier.name +
                              " (line " + std::to_string(earlier.line) + ")");
        break;
      }
    }
  }

  std::vector<ConfigError>& errors_;
  std::string base_dir_;
  std::vector<ApiConfig> rejected_apis_;
  int api_sections_ = 0;
  int listen_line_ = 0;
  int tls_listen_line_ = 0;
  SectionLines tls_lines_;
  std::vector<std::pair<int, std::string>> mtls_lines_;  // line, "api NAME: "
};

}  // namespace

ConfigLoadResult load_config_text(const std::string& text, const std::string& path) {
  ConfigLoadResult result;
  RawIni raw = lex_ini(text);
  result.errors = std::move(raw.errors);
  auto config = std::make_shared<Config>();
  config->path = path;
  size_t slash = path.rfind('/');
  std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (base_dir.empty()) base_dir = "/";
  Validator(result.errors, base_dir).run(raw, *config);
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ConfigLoadResult load_config(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    ConfigLoadResult result;
    result.errors.push_back({0, std::string("cannot open file: ") + std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    ConfigLoadResult result;
    result.errors.push_back({0, std::string("cannot read file: ") + std::strerror(errno)});
    return result;
  }
  return load_config_text(text.str(), path);
}

std::vector<std::string> keep_restart_only_values(const Config& running, Config& loaded) {
  std::vector<std::string> changed;
  auto keep = [&](auto GatewayConfig::*field, const char* key) {
    if (running.gateway.*field == loaded.gateway.*field) return;
    changed.push_back(std::string("[gateway] ") + key);
    loaded.gateway.*field = running.gateway.*field;
  };
  keep(&GatewayConfig::shards, "shards");
  keep(&GatewayConfig::pin_shards, "pin_shards");
  keep(&GatewayConfig::ring_entries, "ring_entries");
  keep(&GatewayConfig::buffer_size, "buffer_size");
  keep(&GatewayConfig::buffer_count, "buffer_count");
  keep(&GatewayConfig::block_cache_bytes, "block_cache_bytes");
  keep(&GatewayConfig::mailbox_capacity, "mailbox_capacity");
  keep(&GatewayConfig::access_log, "access_log");
  keep(&GatewayConfig::access_log_buffer_bytes, "access_log_buffer_bytes");
  // The store thread, its workers and the shards' caches are set up once, at start.
  auto keep_store = [&](auto StoreConfig::*field, const char* key) {
    if (running.store.*field == loaded.store.*field) return;
    changed.push_back(std::string("[store] ") + key);
    loaded.store.*field = running.store.*field;
  };
  keep_store(&StoreConfig::backend, "backend");
  keep_store(&StoreConfig::path, "path");
  keep_store(&StoreConfig::cache_entries, "cache_entries");
  keep_store(&StoreConfig::cache_ttl_ms, "cache_ttl_ms");
  keep_store(&StoreConfig::max_pending_lookups, "max_pending_lookups");
  keep_store(&StoreConfig::lookup_timeout_ms, "lookup_timeout_ms");
  keep_store(&StoreConfig::bcrypt_workers, "bcrypt_workers");
  keep_store(&StoreConfig::bcrypt_queue, "bcrypt_queue");
  keep_store(&StoreConfig::bcrypt_cost, "bcrypt_cost");
  keep_store(&StoreConfig::rate_limit_keys, "rate_limit_keys");
  keep_store(&StoreConfig::quota_flush_ms, "quota_flush_ms");
  // The first configuration with TLS sets the ticket rotation period for good.
  if (running.tls.present && loaded.tls.present &&
      running.tls.session_ticket_rotation_s != loaded.tls.session_ticket_rotation_s) {
    changed.push_back("[tls] session_ticket_rotation_s");
    loaded.tls.session_ticket_rotation_s = running.tls.session_ticket_rotation_s;
  }
  return changed;
}

std::string format_config_error(const std::string& path, const ConfigError& error) {
  if (error.line <= 0) return path + ": " + error.message;
  return path + ":" + std::to_string(error.line) + ": " + error.message;
}

}  // namespace ringway
