#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>

namespace ringway {
namespace {
// Written by the control thread (start-up, reloads), read by every shard.
std::atomic<LogSeverity> g_min_severity{LogSeverity::Info};
thread_local int t_shard_index = -1;
const char* severity_name(LogSeverity s) {
  switch (s) {
    case LogSeverity::Debug: return "debug";
    case LogSeverity::Info: return "info";
    case LogSeverity::Warn: return "warn";
    case LogSeverity::Error: return "error";
  }
  return "?";
}
}  // namespace

void set_log_severity(LogSeverity min_severity) {
  g_min_severity.store(min_severity, std::memory_order_relaxed);
}
bool log_enabled(LogSeverity severity) {
  return severity >= g_min_severity.load(std::memory_order_relaxed);
}
void set_log_thread_shard(int shard_index) { t_shard_index = shard_index; }

void log_message(LogSeverity severity, const char* format, ...) {
  char line[1024];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm_utc;
  gmtime_r(&ts.tv_sec, &tm_utc);
  int n = static_cast<int>(strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm_utc));
  if (t_shard_index >= 0) {
    n += snprintf(line + n, sizeof(line) - n, ".%03ldZ %s shard=%d ", ts.tv_nsec / 1000000,
                  severity_name(severity), t_shard_index);
  } else {
    n += snprintf(line + n, sizeof(line) - n, ".%03ldZ %s main ", ts.tv_nsec / 1000000,
                  severity_name(severity));
  }
  va_list args;
  va_start(args, format);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, format, args);
  va_end(args);
  if (m < 0) m = 0;
  n += m;
  if (n > static_cast<int>(sizeof(line)) - 2) n = sizeof(line) - 2;
  line[n++] = '\n';
  fwrite(line, 1, n, stderr);
}

}  // namespace ringway
