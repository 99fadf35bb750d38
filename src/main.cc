// ringway: the gateway binary. Parses the command line, loads and validates the
// config, starts one shard per core and turns signals into shard commands.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#ifdef RINGWAY_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include "base/log.h"
#include "config/config.h"
#include "runtime/shard.h"
#include "tls/ticket_key_schedule.h"

#ifndef RINGWAY_VERSION
#define RINGWAY_VERSION "dev"
#endif

namespace ringway {
namespace {

void usage(FILE* out) {
  fprintf(out,
          "usage: ringway --config FILE        run the gateway in the foreground\n"
          "       ringway --check --config FILE validate FILE and exit (0 ok, 2 errors)\n"
          "       ringway --version\n");
}

LogSeverity to_severity(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return LogSeverity::Debug;
    case LogLevel::Info: return LogSeverity::Info;
    case LogLevel::Warn: return LogSeverity::Warn;
    case LogLevel::Error: return LogSeverity::Error;
  }
  return LogSeverity::Info;
}

void report_allocator() {
#ifdef RINGWAY_HAVE_MIMALLOC
  void* probe = malloc(64);
  bool ours = mi_is_in_heap_region(probe);
  free(probe);
  int v = mi_version();
  RW_LOG(Debug, "allocator: mimalloc %d.%d.%d, malloc() served by mimalloc: %s", v / 100,
         (v / 10) % 10, v % 10, ours ? "yes" : "NO");
  if (!ours) RW_LOG(Warn, "mimalloc is linked but malloc() is not served by it");
#else
  RW_LOG(Debug, "allocator: system malloc (sanitizer build)");
#endif
}

std::vector<int> usable_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

int run(const std::string& config_path, bool check_only) {
  ConfigLoadResult loaded = load_config(config_path);
  if (!loaded.errors.empty()) {
    for (const ConfigError& e : loaded.errors) {
      fprintf(stderr, "%s\n", format_config_error(config_path, e).c_str());
    }
    return 2;
  }
  if (check_only) {
    printf("%s: OK\n", config_path.c_str());
    return 0;
  }
  std::shared_ptr<const Config> config = loaded.config;
  const GatewayConfig& gw = config->gateway;
  set_log_severity(to_severity(gw.log_level));
  report_allocator();

  // Signals are handled by this thread only (sigwait); shard threads inherit the
  // blocked mask. SIGPIPE never matters: sends use MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  int access_log_fd = -1;
  if (gw.access_log == "stdout") {
    access_log_fd = STDOUT_FILENO;
  } else if (gw.access_log != "off") {
    access_log_fd = open(gw.access_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (access_log_fd < 0) {
      RW_LOG(Error, "cannot open access log %s: %s", gw.access_log.c_str(), strerror(errno));
      return 1;
    }
  }

  std::vector<int> cpus = usable_cpus();
  uint32_t shard_count = gw.shards == 0 ? static_cast<uint32_t>(cpus.size()) : gw.shards;
  std::vector<std::unique_ptr<Shard>> shards;
  // One secret for the whole process: every shard derives the same ticket keys.
  std::string ticket_master = TicketKeySchedule::random_master();
  for (uint32_t i = 0; i < shard_count; ++i) {
    int cpu = gw.pin_shards ? cpus[i % cpus.size()] : -1;
    auto shard =
        std::make_unique<Shard>(static_cast<int>(i), config, cpu, access_log_fd, ticket_master);
    std::string error;
    if (!shard->start(&error)) {
      RW_LOG(Error, "cannot start: %s", error.c_str());
      for (auto& s : shards) s->post(Shard::kDrain);
      for (auto& s : shards) s->join();
      return 1;
    }
    shards.push_back(std::move(shard));
  }
  std::string addresses;
  for (const SockAddr& a : gw.listen) addresses += (addresses.empty() ? "" : ", ") + a.text;
  for (const SockAddr& a : gw.tls_listen) {
    addresses += (addresses.empty() ? "" : ", ") + a.text + " (tls)";
  }
  RW_LOG(Info, "ringway %s serving on %s with %u shard(s), %zu API(s)", RINGWAY_VERSION,
         addresses.c_str(), shard_count, config->apis.size());

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      RW_LOG(Warn, "SIGHUP: configuration reload is not supported by this build yet; "
                   "restart to apply changes");
      continue;
    }
    RW_LOG(Info, "%s: draining (up to %u ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
           gw.drain_timeout_ms);
    break;
  }
  for (auto& s : shards) s->post(Shard::kDrain);
  uint64_t requests = 0;
  for (auto& s : shards) {
    s->join();
    requests += s->counters().requests;
  }
  RW_LOG(Info, "stopped after %llu request(s)", static_cast<unsigned long long>(requests));
  if (access_log_fd > STDOUT_FILENO) close(access_log_fd);
  return 0;
}

}  // namespace
}  // namespace ringway

int main(int argc, char** argv) {
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      printf("ringway %s\n", RINGWAY_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      ringway::usage(stdout);
      return 0;
    }
    if (arg == "--check") {
      check = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else {
      fprintf(stderr, "ringway: unknown argument '%s'\n", arg.c_str());
      ringway::usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    ringway::usage(stderr);
    return 2;
  }
  return ringway::run(config_path, check);
}
