// The INI loader on arbitrary text: no crash, leak or UB, and the result is coherent
// (a config or errors, never both; errors sorted by line, within the text; what a
// loaded config promises holds). fuzz_sandbox keeps it off DNS and odd files.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <netdb.h>

#include "config/config.h"
#include "fuzz_sandbox.h"

using namespace ringway;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool is_lower(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// The sandbox is in effect (our getaddrinfo/fopen, not libc's or a sanitizer's,
// were linked): checked once per process.
bool sandbox_works() {
  ringway_fuzz_sandbox_enter();
  addrinfo* result = nullptr;
  int rc = getaddrinfo("localhost", "80", nullptr, &result);
  if (result != nullptr) freeaddrinfo(result);
  std::FILE* f = std::fopen("/dev/zero", "rb");
  if (f != nullptr) std::fclose(f);
  ringway_fuzz_sandbox_leave();
  return rc == EAI_NONAME && f == nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool sandboxed = sandbox_works();
  check(sandboxed);
  if (size > 65536) return -1;  // longer texts only repeat what short ones reach
  std::string text(reinterpret_cast<const char*>(data), size);
  // A directory that does not exist: relative file names resolve into it.
  const std::string path = "/nonexistent-ringway-fuzz/ringway.ini";
  ringway_fuzz_sandbox_enter();
  ConfigLoadResult result = load_config_text(text, path);
  ringway_fuzz_sandbox_leave();

  check((result.config == nullptr) == !result.errors.empty());
  int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  int previous = 0;
  for (const ConfigError& error : result.errors) {
    check(error.line >= 0 && error.line <= lines);
    check(error.line >= previous);
    previous = error.line;
    check(!error.message.empty());
    // ini.cc pre-checks every line so inih never rejects one.
    check(error.message != "syntax error");
    check(!format_config_error(path, error).empty());
  }
  if (!result.config) return 0;

  const Config& config = *result.config;
  for (const ApiConfig& api : config.apis) {
    check(!api.listen_path.empty() && api.listen_path.front() == '/');
    for (const std::string& host : api.hosts) check(!host.empty() && is_lower(host));
    check(is_lower(api.auth_header));
    check(api.target.base_path.empty() ||
          (api.target.base_path.front() == '/' && api.target.base_path.back() != '/'));
    check(api.target.port != 0 && !api.target.host.empty());
    check(api.target.address.len > 0);
  }
  for (size_t i = 0; i < config.apis.size(); ++i) {
    for (size_t j = 0; j < i; ++j) check(config.apis[i].name != config.apis[j].name);
  }
  check(!config.gateway.listen.empty() || !config.gateway.tls_listen.empty());
  for (const SockAddr& a : config.gateway.listen) check(a.len > 0);
  // A reload with the same file changes nothing that needs a restart.
  Config copy = config;
  check(keep_restart_only_values(config, copy).empty());
  return 0;
}
