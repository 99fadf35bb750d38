#include <string>

#include "config/sections.h"
#include "config/values.h"

namespace ringway {

void parse_admin_section(const RawSection& section, AdminConfig& admin,
                         std::vector<ConfigError>& errors) {
  admin.enabled = true;
  admin.line = section.line;
  const std::string prefix = "[admin] ";
  auto error = [&errors](int line, std::string message) {
    errors.push_back({line, std::move(message)});
  };
  bool have_listen = false;
  for (const RawEntry* entry_ptr : unique_entries(section, prefix, errors)) {
    const RawEntry& entry = *entry_ptr;
    if (entry.key == "listen") {
      have_listen = true;
      std::vector<std::string> whys;
      admin.listen = parse_listen_list(prefix + "listen", entry.value, whys);
      for (std::string& why : whys) error(entry.line, std::move(why));
      if (whys.empty() && admin.listen.empty()) {
        error(entry.line, prefix + "listen: at least one address is required");
      }
    } else if (entry.key == "secret") {
      // Any bytes but spaces and control characters: it travels in a header.
      bool printable = true;
      for (char c : entry.value) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) printable = false;
      }
      if (!printable) {
        error(entry.line, prefix + "secret must not contain spaces or control characters");
      } else {
        admin.secret = entry.value;
      }
    } else if (entry.key == "collect_timeout_ms" || entry.key == "max_body_bytes") {
      bool timeout = entry.key == "collect_timeout_ms";
      uint64_t value = 0;
      std::string why;
      if (parse_uint(entry.key, entry.value, timeout ? 10 : 1024, timeout ? 60000 : 67108864,
                     value, why)) {
        (timeout ? admin.collect_timeout_ms : admin.max_body_bytes) =
            static_cast<uint32_t>(value);
      } else {
        error(entry.line, prefix + why);
      }
    } else {
      error(entry.line, prefix + "unknown key '" + entry.key + "'");
    }
  }
  if (!have_listen) {
    // Loopback by default: the admin API is for the host itself.
    std::vector<std::string> whys;
    admin.listen = parse_listen_list("listen", "127.0.0.1:8081", whys);
  }
}

}  // namespace ringway
