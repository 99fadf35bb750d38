#pragma once
// The process's own resource use, read from /proc when /metrics is scraped (never on
// the request path).

#include <cstdint>

namespace ringway {

struct ProcessStats {
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;              // RLIMIT_NOFILE soft limit
  double start_time_seconds = 0;     // since the Unix epoch
  double cpu_seconds = 0;            // user + system
};

// Fills what could be read; returns false when /proc/self is unreadable.
bool read_process_stats(ProcessStats* out);

}  // namespace ringway
