#pragma once
// Minimal leveled logging to stderr. Each line carries the shard index of the calling
// thread ("-" for the control thread). Logging is for operators, not for the
// per-request path: request-level detail goes to the access log or debug level.

#include <cstdarg>
#include <cstdint>

namespace ringway {

enum class LogSeverity : uint8_t { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_log_severity(LogSeverity min_severity);
bool log_enabled(LogSeverity severity);
void set_log_thread_shard(int shard_index);  // -1 for the control thread
void log_message(LogSeverity severity, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

}  // namespace ringway

#define RW_LOG(sev, ...)                                               \
  do {                                                                 \
    if (::ringway::log_enabled(::ringway::LogSeverity::sev)) {         \
      ::ringway::log_message(::ringway::LogSeverity::sev, __VA_ARGS__); \
    }                                                                  \
  } while (0)

// Checks that stay on in release builds: a failure is a bug in Ringway, never a
// consequence of peer input.
#define RW_CHECK(cond)                                                        \
  do {                                                                        \
    if (__builtin_expect(!(cond), 0)) {                                       \
      ::ringway::log_message(::ringway::LogSeverity::Error,                   \
                             "check failed: %s at %s:%d", #cond, __FILE__, __LINE__); \
      __builtin_trap();                                                       \
    }                                                                         \
  } while (0)
