#pragma once
// Sections validated in files of their own (config.cc does [gateway], [tls] and
// [api.NAME]). Each appends its problems to |errors| with line numbers.

#include <vector>

#include "config/config.h"
#include "config/ini.h"

namespace ringway {

// [admin]: listen, secret, collect_timeout_ms, max_body_bytes.
void parse_admin_section(const RawSection& section, AdminConfig& admin,
                         std::vector<ConfigError>& errors);

// [store]: backend, path (relative to |base_dir|), cache and worker limits.
void parse_store_section(const RawSection& section, const std::string& base_dir,
                         StoreConfig& store, std::vector<ConfigError>& errors);

// [coprocess]: enable_coprocess, coprocess_grpc_server, sizes, timeout, on_error.
void parse_coprocess_section(const RawSection& section, CoprocessConfig& coprocess,
                             std::vector<ConfigError>& errors);

// config_data: a JSON object; |compact| is its compact text. False with |why|.
bool parse_config_data(std::string_view text, std::string* compact, std::string* why);

}  // namespace ringway
