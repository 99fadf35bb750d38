// [coprocess] and the per-API config_data: the rich-plugin settings (Tyk's
// coprocess_options, COPROCESS.md §2.7).
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>
#include <sys/un.h>

#include "config/sections.h"
#include "config/values.h"

namespace ringway {
namespace {

struct CoprocessUintKey {
  const char* name;
  uint32_t CoprocessConfig::*field;
  uint32_t min;
  uint32_t max;
};

// Message sizes: 0 means gRPC's default (4 MiB), as in Tyk; at most 256 MiB, since the
// whole message (a buffered body) is held in memory.
constexpr uint32_t kDefaultMessageBytes = 4194304;
constexpr uint32_t kMaxMessageBytes = 268435456;

constexpr CoprocessUintKey kCoprocessUintKeys[] = {
    {"grpc_recv_max_size", &CoprocessConfig::grpc_recv_max_size, 0, kMaxMessageBytes},
    {"grpc_send_max_size", &CoprocessConfig::grpc_send_max_size, 0, kMaxMessageBytes},
    {"timeout_ms", &CoprocessConfig::timeout_ms, 1, 600000},
    {"max_in_flight", &CoprocessConfig::max_in_flight, 1, 1000000},
    {"max_connections", &CoprocessConfig::max_connections, 1, 64},
};

// tcp://host:port, unix:///absolute/path, or (as Tyk ≥ 5.9) a bare host:port.
bool parse_server(const std::string& text, CoprocessConfig& c, std::string& why) {
  std::string_view v = text;
  if (v.rfind("unix://", 0) == 0) {
    std::string path(v.substr(7));
    sockaddr_un un{};
    if (path.empty() || path.front() != '/') {
      why = "coprocess_grpc_server: unix:// needs an absolute path (unix:///run/plugin.sock)";
      return false;
    }
    if (path.size() >= sizeof(un.sun_path)) {
      why = "coprocess_grpc_server: the socket path is longer than " +
            std::to_string(sizeof(un.sun_path) - 1) + " bytes";
      return false;
    }
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    c.unix_socket = true;
    c.address = SockAddr{};
    std::memcpy(&c.address.storage, &un, sizeof(un));
    c.address.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    c.address.text = text;
    return true;
  }
  if (v.rfind("tcp://", 0) == 0) {
    v.remove_prefix(6);
  } else if (v.find("://") != std::string_view::npos) {
    why = "coprocess_grpc_server must be tcp://host:port or unix:///path, got '" + text + "'";
    return false;
  }
  std::string host;
  uint16_t port = 0;
  bool v6 = false;
  if (!split_host_port(v, 0, host, port, v6, why)) {
    why = "coprocess_grpc_server: " + why;
    return false;
  }
  c.unix_socket = false;
  if (!resolve(host, port, false, c.address, why)) {
    why = "coprocess_grpc_server: " + why;
    return false;
  }
  c.address.text = std::string(v);
  if (c.authority.empty()) c.authority = std::string(v);
  return true;
}

}  // namespace

void parse_coprocess_section(const RawSection& section, CoprocessConfig& c,
                             std::vector<ConfigError>& errors) {
  c.present = true;
  c.line = section.line;
  const std::string prefix = "[coprocess] ";
  auto error = [&errors](int line, std::string message) {
    errors.push_back({line, std::move(message)});
  };
  std::string authority;
  bool have_server = false;
  for (const RawEntry* entry_ptr : unique_entries(section, prefix, errors)) {
    const RawEntry& entry = *entry_ptr;
    bool handled = false;
    for (const CoprocessUintKey& spec : kCoprocessUintKeys) {
      if (entry.key != spec.name) continue;
      handled = true;
      uint64_t value = 0;
      std::string why;
      if (parse_uint(entry.key, entry.value, spec.min, spec.max, value, why)) {
        c.*spec.field = static_cast<uint32_t>(value);
      } else {
        error(entry.line, prefix + why);
      }
    }
    if (handled) continue;
    if (entry.key == "enable_coprocess") {
      if (!parse_bool(entry.value, c.enable_coprocess)) {
        error(entry.line, prefix + "enable_coprocess: '" + entry.value + "' is not a boolean");
      }
    } else if (entry.key == "coprocess_grpc_server") {
      have_server = true;
      std::string why;
      if (!parse_server(entry.value, c, why)) error(entry.line, prefix + why);
    } else if (entry.key == "grpc_authority") {
      // Sent as :authority: host characters and an optional port only.
      bool ok = !entry.value.empty();
      for (char ch : entry.value) ok &= is_host_char(ch) || ch == ':' || ch == '[' || ch == ']';
      if (!ok) {
        error(entry.line, prefix + "grpc_authority: '" + entry.value +
                              "' is not a host[:port]");
      } else {
        authority = entry.value;
      }
    } else if (entry.key == "event_handler") {
      c.event_handler = entry.value;
    } else if (entry.key == "on_error") {
      std::string v = to_lower(entry.value);
      if (v == "deny" || v == "allow") {
        c.on_error_allow = v == "allow";
      } else {
        error(entry.line, prefix + "on_error must be deny or allow, got '" + entry.value + "'");
      }
    } else {
      error(entry.line, prefix + "unknown key '" + entry.key + "'");
    }
  }
  if (c.grpc_recv_max_size == 0) c.grpc_recv_max_size = kDefaultMessageBytes;
  if (c.grpc_send_max_size == 0) c.grpc_send_max_size = kDefaultMessageBytes;
  if (!authority.empty()) {
    c.authority = authority;
  } else if (c.unix_socket) {
    c.authority = "localhost";  // what gRPC clients send for unix sockets
  }
  if (!have_server && c.enable_coprocess) {
    error(section.line, prefix + "coprocess_grpc_server is required "
                                 "(tcp://host:port or unix:///path)");
  }
}

bool parse_config_data(std::string_view text, std::string* compact, std::string* why) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    *why = "config_data is not valid JSON";
    return false;
  }
  if (!value.is_object()) {
    *why = "config_data must be a JSON object ({...})";
    return false;
  }
  *compact = value.empty() ? std::string() : value.dump();
  return true;
}

}  // namespace ringway
