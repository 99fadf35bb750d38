#include <string>

#include "config/sections.h"
#include "config/values.h"

namespace ringway {
namespace {

struct StoreUintKey {
  const char* name;
  uint32_t StoreConfig::*field;
  uint32_t min;
  uint32_t max;
};

// Ranges are documented next to each key in conf/ringway.ini.
constexpr StoreUintKey kStoreUintKeys[] = {
    {"cache_entries", &StoreConfig::cache_entries, 16, 10000000},
    {"cache_ttl_ms", &StoreConfig::cache_ttl_ms, 10, 86400000},
    {"max_pending_lookups", &StoreConfig::max_pending_lookups, 1, 1000000},
    {"lookup_timeout_ms", &StoreConfig::lookup_timeout_ms, 10, 600000},
    {"bcrypt_workers", &StoreConfig::bcrypt_workers, 1, 64},
    {"bcrypt_queue", &StoreConfig::bcrypt_queue, 1, 65536},
    {"bcrypt_cost", &StoreConfig::bcrypt_cost, 4, 16},
    {"rate_limit_keys", &StoreConfig::rate_limit_keys, 16, 10000000},
    {"quota_flush_ms", &StoreConfig::quota_flush_ms, 10, 60000},
};

}  // namespace

void parse_store_section(const RawSection& section, const std::string& base_dir,
                         StoreConfig& store, std::vector<ConfigError>& errors) {
  store.present = true;
  store.line = section.line;
  const std::string prefix = "[store] ";
  auto error = [&errors](int line, std::string message) {
    errors.push_back({line, std::move(message)});
  };
  for (const RawEntry* entry_ptr : unique_entries(section, prefix, errors)) {
    const RawEntry& entry = *entry_ptr;
    bool handled = false;
    for (const StoreUintKey& spec : kStoreUintKeys) {
      if (entry.key != spec.name) continue;
      handled = true;
      uint64_t value = 0;
      std::string why;
      if (parse_uint(entry.key, entry.value, spec.min, spec.max, value, why)) {
        store.*spec.field = static_cast<uint32_t>(value);
      } else {
        error(entry.line, prefix + why);
      }
    }
    if (handled) continue;
    if (entry.key == "backend") {
      if (entry.value == "sqlite") {
        store.backend = entry.value;
      } else {
        error(entry.line, prefix + "backend must be sqlite (the only backend of this build), "
                                   "got '" + entry.value + "'");
      }
    } else if (entry.key == "path") {
      if (entry.value.empty()) {
        error(entry.line, prefix + "path must not be empty");
      } else if (entry.value.front() == '/') {
        store.path = entry.value;
      } else {
        store.path = base_dir + "/" + entry.value;
      }
    } else {
      error(entry.line, prefix + "unknown key '" + entry.key + "'");
    }
  }
}

bool config_needs_store(const Config& config) {
  if (config.store.present) return true;
  for (const ApiConfig& api : config.apis) {
    // Custom-auth sessions are kept in the store as Tyk keeps them in Redis.
    if (api.use_basic_auth || api.use_standard_auth || api.enable_coprocess_auth) return true;
  }
  return false;
}

}  // namespace ringway
