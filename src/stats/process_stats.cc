#include "stats/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace ringway {
namespace {

// Seconds since the epoch at which the system booted (for the start time).
double boot_time_seconds() {
  FILE* f = fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[256];
  double boot = 0;
  while (fgets(line, sizeof(line), f)) {
    unsigned long long v = 0;
    if (sscanf(line, "btime %llu", &v) == 1) {
      boot = static_cast<double>(v);
      break;
    }
  }
  fclose(f);
  return boot;
}

}  // namespace

bool read_process_stats(ProcessStats* out) {
  long page = sysconf(_SC_PAGESIZE);
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return false;
  unsigned long long size = 0, resident = 0;
  int n = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  if (n != 2) return false;
  out->virtual_bytes = size * static_cast<uint64_t>(page);
  out->resident_bytes = resident * static_cast<uint64_t>(page);

  if (DIR* d = opendir("/proc/self/fd")) {
    uint64_t count = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++count;
    }
    closedir(d);
    out->open_fds = count > 0 ? count - 1 : 0;  // minus the directory's own descriptor
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) out->max_fds = rl.rlim_cur;

  // /proc/self/stat: utime (14), stime (15), starttime (22), in clock ticks.
  f = fopen("/proc/self/stat", "r");
  if (f) {
    char buf[1024];
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char* p = strrchr(buf, ')');  // the command name may contain spaces
    if (p) {
      unsigned long long utime = 0, stime = 0, start = 0;
      // Fields after ")": state(3) ppid ... utime is the 12th token after state.
      if (sscanf(p + 2,
                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
                 "%llu",
                 &utime, &stime, &start) == 3) {
        double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        out->cpu_seconds = static_cast<double>(utime + stime) / ticks;
        out->start_time_seconds = boot_time_seconds() + static_cast<double>(start) / ticks;
      }
    }
  }
  return true;
}

}  // namespace ringway
