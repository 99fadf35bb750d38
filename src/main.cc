// ringway: the gateway binary. Parses the command line, loads and validates the
// config, starts one shard per core and runs the control thread: signals (SIGTERM /
// SIGINT drain, SIGHUP reloads) and reload requests from the shards (/tyk/reload)
// become messages in the shards' mailboxes.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#ifdef RINGWAY_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#include "base/log.h"
#include "config/config.h"
#include "runtime/mailboxes.h"
#include "runtime/shard.h"
#include "runtime/store_thread.h"
#include "tls/ticket_key_schedule.h"
#include "tls/tls_context.h"

#ifndef RINGWAY_VERSION
#define RINGWAY_VERSION "dev"
#endif

namespace ringway {
namespace {

// How long the control thread keeps re-posting a message to a full mailbox.
constexpr int kPostRetryLimitMs = 10000;

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

// Every client and upstream connection is a descriptor: the soft limit (often 1024)
// goes up to the hard one. No select() anywhere, so high descriptor numbers are fine.
void raise_descriptor_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    RW_LOG(Warn, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    return;
  }
  auto text = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v);
  };
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      RW_LOG(Info, "descriptor limit (RLIMIT_NOFILE): %s (raised from %s)",
             text(raised.rlim_cur).c_str(), text(rl.rlim_cur).c_str());
      return;
    }
    RW_LOG(Warn, "cannot raise the descriptor limit (RLIMIT_NOFILE) from %s to %s: %s",
           text(rl.rlim_cur).c_str(), text(rl.rlim_max).c_str(), strerror(errno));
  }
  RW_LOG(Info, "descriptor limit (RLIMIT_NOFILE): %s", text(rl.rlim_cur).c_str());
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

// The control thread: owns the running configuration and the reload procedure.
class Control {
 public:
  Control(std::string path, std::shared_ptr<const Config> config, Mailboxes* mailboxes,
          bool store_running)
      : path_(std::move(path)), running_(std::move(config)), mailboxes_(mailboxes),
        store_running_(store_running), requested_(mailboxes->shard_count(), 0) {}

  // Posts |body| to every shard, retrying (bounded) while a mailbox is full.
  // |per_shard| adjusts the body for each shard before it is sent.
  template <class Body, class PerShard>
  void broadcast(const Body& body, PerShard per_shard) {
    for (uint32_t shard = 0; shard < mailboxes_->shard_count(); ++shard) {
      Body copy = body;
      per_shard(shard, copy);
      for (int waited_ms = 0;; ++waited_ms) {
        ShardMessage m;
        m.body = copy;
        if (mailboxes_->post(mailboxes_->control(), shard, std::move(m), nullptr)) break;
        if (waited_ms >= kPostRetryLimitMs) {
          RW_LOG(Error, "shard %u's mailbox stayed full for %d ms; message dropped", shard,
                 kPostRetryLimitMs);
          break;
        }
        usleep(1000);
      }
    }
  }

  void drain() {
    broadcast(DrainMessage{}, [](uint32_t, DrainMessage&) {});
  }

  // Reload requests from the shards (GET /tyk/reload) wait in the control mailbox.
  // Returns true when at least one asked.
  bool take_requests() {
    bool any = false;
    mailboxes_->clear_wake(mailboxes_->control());
    mailboxes_->drain(mailboxes_->control(), [&](ShardMessage&& m) {
      if (auto* r = std::get_if<ReloadRequestMessage>(&m.body)) {
        if (m.from < requested_.size() && r->request > requested_[m.from]) {
          requested_[m.from] = r->request;
        }
        any = true;
      }
    });
    return any;
  }

  void reload(const char* why) {
    RW_LOG(Info, "%s: reloading %s", why, path_.c_str());
    // Everything asked for so far is answered by this reload.
    std::vector<uint64_t> covers = requested_;
    ConfigLoadResult loaded = load_config(path_);
    if (loaded.errors.empty() && !store_running_ && config_needs_store(*loaded.config)) {
      // The store thread starts with the process only.
      loaded.errors.push_back({0, "Basic or token auth (or [store]) needs the key store, "
                                  "which starts with the gateway: restart to add it"});
    }
    if (!loaded.errors.empty()) {
      std::string summary;
      for (const ConfigError& e : loaded.errors) {
        std::string line = format_config_error(path_, e);
        RW_LOG(Error, "reload rejected: %s", line.c_str());
        if (summary.size() < 2000) summary += (summary.empty() ? "" : "; ") + line;
      }
      RW_LOG(Error, "reload rejected: %zu problem(s); the running configuration (generation "
                    "%llu) stays", loaded.errors.size(),
             static_cast<unsigned long long>(generation_));
      broadcast(ReloadFailedMessage{summary, 0},
                [&](uint32_t shard, ReloadFailedMessage& m) { m.covers = covers[shard]; });
      return;
    }
    // What only a restart can change keeps its running value (every shard must go on
    // agreeing on ring sizes, buffers and the access log).
    auto next = std::make_shared<Config>(*loaded.config);
    for (const std::string& key : keep_restart_only_values(*running_, *next)) {
      RW_LOG(Warn, "reload: %s changed; the new value applies after a restart", key.c_str());
    }
    set_log_severity(to_severity(next->gateway.log_level));
    running_ = next;
    ++generation_;
    broadcast(ReloadMessage{running_, generation_, 0},
              [&](uint32_t shard, ReloadMessage& m) { m.covers = covers[shard]; });
    RW_LOG(Info, "configuration generation %llu applied: %zu API(s)",
           static_cast<unsigned long long>(generation_), running_->apis.size());
  }

 private:
  std::string path_;
  std::shared_ptr<const Config> running_;
  Mailboxes* mailboxes_;
  bool store_running_;
  uint64_t generation_ = 1;
  std::vector<uint64_t> requested_;  // highest reload request seen per shard
};

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
  raise_descriptor_limit();

  // Signals are taken by this thread only (signalfd); shard threads inherit the
  // blocked mask. SIGPIPE never matters: sends use MSG_NOSIGNAL.
  signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  int control_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (signal_fd < 0 || control_fd < 0) {
    RW_LOG(Error, "signalfd/eventfd: %s", strerror(errno));
    return 1;
  }

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
  Mailboxes mailboxes(shard_count, gw.mailbox_capacity);
  mailboxes.set_event_fd(mailboxes.control(), control_fd);
  // Declared before the store: it is stopped (and joined) before the shards' objects
  // go, as it writes to their eventfds.
  std::vector<std::unique_ptr<Shard>> shards;
  // The key store: opened before the shards start, so a bad path stops the start.
  std::unique_ptr<StoreThread> store;
  if (config_needs_store(*config)) {
    store = std::make_unique<StoreThread>(config->store, &mailboxes);
    std::string error;
    if (!store->open(&error) || !store->start(&error)) {
      RW_LOG(Error, "cannot start: key store %s: %s", config->store.path.c_str(),
             error.c_str());
      return 1;
    }
  }
  Control control(config_path, config, &mailboxes, store != nullptr);
  ShardOptions options;
  // One secret for the whole process: every shard derives the same ticket keys.
  options.ticket_master = TicketKeySchedule::random_master();
  options.access_log_fd = access_log_fd;
  options.version = RINGWAY_VERSION;
  options.store = store.get();
  for (uint32_t i = 0; i < shard_count; ++i) {
    options.index = static_cast<int>(i);
    options.cpu = gw.pin_shards ? cpus[i % cpus.size()] : -1;
    shards.push_back(std::make_unique<Shard>(options, config, &mailboxes));
    std::string error;
    if (!shards.back()->prepare(&error)) {
      RW_LOG(Error, "cannot start: %s", error.c_str());
      return 1;
    }
  }
  size_t started = 0;
  for (; started < shards.size(); ++started) {
    std::string error;
    if (!shards[started]->start(&error)) {
      RW_LOG(Error, "cannot start: %s", error.c_str());
      break;
    }
  }
  if (started < shards.size()) {
    control.drain();
    for (size_t i = 0; i < started; ++i) shards[i]->join();
    return 1;
  }
  std::string addresses;
  for (const SockAddr& a : gw.listen) addresses += (addresses.empty() ? "" : ", ") + a.text;
  for (const SockAddr& a : gw.tls_listen) {
    addresses += (addresses.empty() ? "" : ", ") + a.text + " (tls)";
  }
  if (config->admin.enabled) {
    for (const SockAddr& a : config->admin.listen) {
      addresses += (addresses.empty() ? "" : ", ") + a.text + " (admin)";
    }
    if (config->admin.secret.empty()) {
      RW_LOG(Warn, "[admin] secret is empty: everything under /tyk/ answers 403");
    }
  }
  RW_LOG(Info, "ringway %s serving on %s with %u shard(s), %zu API(s)", RINGWAY_VERSION,
         addresses.c_str(), shard_count, config->apis.size());
  config.reset();

  int stop_signal = 0;
  while (stop_signal == 0) {
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {control_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      RW_LOG(Error, "poll: %s", strerror(errno));
      break;
    }
    bool reload = false;
    const char* why = "";
    if (fds[1].revents & POLLIN) {
      uint64_t value;
      ssize_t rc = read(control_fd, &value, sizeof(value));
      (void)rc;
    }
    // Requests from the shards are looked at on every wake (their eventfd writes may
    // be coalesced with a signal).
    if (control.take_requests()) {
      reload = true;
      why = "/tyk/reload";
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(signal_fd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        if (info.ssi_signo == SIGHUP) {
          reload = true;
          why = "SIGHUP";
        } else {
          stop_signal = static_cast<int>(info.ssi_signo);
        }
        break;  // one at a time: poll again for the rest
      }
    }
    if (stop_signal != 0) break;
    if (reload) control.reload(why);
  }
  RW_LOG(Info, "%s: draining (up to %u ms)", stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
         gw.drain_timeout_ms);
  control.drain();
  uint64_t requests = 0;
  for (auto& s : shards) {
    s->join();
    requests += s->requests_served();
  }
  // After the shards: it takes their last quota counts.
  if (store) store->stop();
  RW_LOG(Info, "stopped after %llu request(s)", static_cast<unsigned long long>(requests));
  if (access_log_fd > STDOUT_FILENO) close(access_log_fd);
  close(signal_fd);
  close(control_fd);
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
      printf("ringway %s (TLS: %s)\n", RINGWAY_VERSION, ringway::tls_library_name().c_str());
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
