#include "runtime/shard.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/loop.h"
#include "proxy/access_log.h"
#include "proxy/downstream_conn.h"
#include "route/router.h"
#include "tls/ticket_key_schedule.h"
#include "tls/tls_context.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

constexpr int kListenBacklog = 4096;
// Accept errors such as EMFILE are retried after this pause instead of spinning.
constexpr uint64_t kAcceptRetryMs = 100;

std::string peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "-";
  char buf[INET6_ADDRSTRLEN] = "-";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

int open_listener(const SockAddr& addr, std::string* error) {
  int fd = socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = "socket(): " + std::string(strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0) {
    *error = "bind " + addr.text + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  if (listen(fd, kListenBacklog) != 0) {
    *error = "listen " + addr.text + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// Everything the shard thread owns while it runs; destroyed in reverse order, the
// loop (and with it the ring) last.
struct ShardRuntime {
  struct Listener {
    ShardRuntime* rt = nullptr;
    int fd = -1;
    bool tls = false;
    Op accept_op;
    Timer retry_timer;
    bool armed = false;
  };

  Loop loop;
  ProxyContext ctx;
  std::unique_ptr<Router> router;
  std::unique_ptr<UpstreamPools> pools;
  std::unique_ptr<AccessLog> access_log;
  std::unique_ptr<TlsServerContext> tls_server;
  std::unique_ptr<TicketKeySchedule> ticket_schedule;
  Timer ticket_rotation;
  DownstreamConnList downstream;
  std::vector<std::unique_ptr<Listener>> listeners;
  Op control_op;
  uint64_t control_value = 0;
  int control_fd = -1;
  std::atomic<uint32_t>* commands = nullptr;
  Timer drain_deadline;
  bool drain_deadline_passed = false;
  Timer exit_deadline;  // wakes the last turns if an upstream close stalls

  void arm_accept(Listener* l) {
    if (ctx.draining || l->fd < 0) return;
    l->armed = true;
    loop.ring().accept_multishot(l->fd, &l->accept_op);
  }

  static void on_accept(Op* op, int32_t res, uint32_t flags) {
    auto* l = static_cast<Listener*>(op->owner);
    ShardRuntime* rt = l->rt;
    if (!(flags & IORING_CQE_F_MORE)) l->armed = false;
    if (res >= 0) {
      rt->accept_connection(res, l->tls);
      if (!l->armed) rt->arm_accept(l);
      return;
    }
    if (res == -ECANCELED || rt->ctx.draining) return;
    RW_LOG(Warn, "accept failed: %s; retrying in %llu ms", strerror(-res),
           static_cast<unsigned long long>(kAcceptRetryMs));
    if (!l->armed) rt->loop.arm_timer(&l->retry_timer, kAcceptRetryMs);
  }

  static void on_accept_retry(Timer* t) {
    auto* l = static_cast<Listener*>(t->owner);
    if (!l->armed) l->rt->arm_accept(l);
  }

  void accept_connection(int fd, bool tls) {
    if (ctx.draining) {
      close(fd);
      return;
    }
    if (ctx.downstream_connections >= ctx.gateway->max_connections) {
      // At the limit: refuse quickly rather than queue without bound.
      ++ctx.counters.connections_rejected;
      close(fd);
      return;
    }
    ++ctx.counters.connections_accepted;
    auto* conn = new DownstreamConn(&ctx, &downstream, fd, peer_address(fd), tls);
    conn->start();
  }

  void arm_control() { loop.ring().read(control_fd, &control_value, sizeof(control_value), &control_op); }

  static void on_control(Op* op, int32_t res, uint32_t) {
    auto* rt = static_cast<ShardRuntime*>(op->owner);
    uint32_t cmds = rt->commands->exchange(0);
    if (cmds & Shard::kDrain) rt->start_drain();
    if (res >= 0 || res == -EINTR || res == -EAGAIN) rt->arm_control();
  }

  static void on_drain_deadline(Timer* t) {
    auto* rt = static_cast<ShardRuntime*>(t->owner);
    rt->drain_deadline_passed = true;
    RW_LOG(Warn, "drain timeout: closing %u connection(s) with work in progress",
           rt->downstream.size());
    rt->downstream.for_each([](DownstreamConn* c) { c->abort(); });
    // Exchanges still waiting on an upstream (a connect that hangs) end too.
    rt->pools->abort_all();
  }

  void start_drain() {
    if (ctx.draining) return;
    ctx.draining = true;
    for (auto& l : listeners) {
      if (l->armed) loop.ring().cancel(&l->accept_op);
      loop.disarm_timer(&l->retry_timer);
    }
    // Closing the listening sockets makes the kernel send new connections to shards
    // or processes still listening (SO_REUSEPORT) — or refuse them.
    for (auto& l : listeners) {
      if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
      }
    }
    downstream.for_each([](DownstreamConn* c) { c->drain(); });
    pools->shutdown();
    loop.arm_timer(&drain_deadline, ctx.gateway->drain_timeout_ms);
    loop.disarm_timer(&ticket_rotation);
  }

  // Installs the ticket keys of the current period and arms the next rotation.
  static void on_ticket_rotation(Timer* t) {
    auto* rt = static_cast<ShardRuntime*>(t->owner);
    uint64_t now = rt->loop.now_ms();  // the same monotonic clock, read once per turn
    uint64_t period = rt->ticket_schedule->period_at(now);
    rt->tls_server->set_ticket_keys(rt->ticket_schedule->keys_for_period(period));
    RW_LOG(Debug, "session ticket keys rotated (period %llu)",
           static_cast<unsigned long long>(period));
    rt->loop.arm_timer(&rt->ticket_rotation, rt->ticket_schedule->ms_until_next_period(now));
  }

  bool finished() const {
    return ctx.draining && downstream.size() == 0 && ctx.active_exchanges == 0 &&
           (!access_log || access_log->idle());
  }
};

}  // namespace

Shard::Shard(int index, std::shared_ptr<const Config> config, int cpu, int access_log_fd,
             std::string ticket_master)
    : index_(index),
      config_(std::move(config)),
      cpu_(cpu),
      access_log_fd_(access_log_fd),
      ticket_master_(std::move(ticket_master)) {}

Shard::~Shard() {
  if (thread_.joinable()) thread_.join();
  if (control_fd_ >= 0) close(control_fd_);
}

bool Shard::start(std::string* error) {
  control_fd_ = eventfd(0, EFD_CLOEXEC);
  if (control_fd_ < 0) {
    *error = std::string("eventfd: ") + strerror(errno);
    return false;
  }
  std::promise<std::string> started;
  std::future<std::string> result = started.get_future();
  thread_ = std::thread([this, &started] { run(&started); });
  *error = result.get();
  return error->empty();
}

void Shard::post(uint32_t commands) {
  commands_.fetch_or(commands);
  uint64_t one = 1;
  ssize_t rc = write(control_fd_, &one, sizeof(one));
  (void)rc;
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::run(std::promise<std::string>* started) {
  set_log_thread_shard(index_);
  std::string name = "ringway-s" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.c_str());
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      RW_LOG(Warn, "could not pin to CPU %d", cpu_);
    }
  }
  const GatewayConfig& gw = config_->gateway;
  auto rt = std::make_unique<ShardRuntime>();
  std::string error;
  LoopLimits limits{gw.ring_entries, gw.buffer_count, gw.buffer_size};
  if (!rt->loop.init(limits, &error)) {
    started->set_value("shard " + std::to_string(index_) + ": " + error);
    return;
  }
  rt->ctx.shard_index = index_;
  rt->ctx.loop = &rt->loop;
  rt->ctx.config = config_.get();
  rt->ctx.gateway = &gw;
  rt->router = std::make_unique<Router>(config_->apis);
  rt->ctx.router = rt->router.get();
  rt->pools = std::make_unique<UpstreamPools>(&rt->ctx, *config_, &error);
  if (!error.empty()) {
    started->set_value("shard " + std::to_string(index_) + ": " + error);
    return;
  }
  rt->ctx.pools = rt->pools.get();
  if (access_log_fd_ >= 0) {
    rt->access_log = std::make_unique<AccessLog>(&rt->loop, index_, access_log_fd_, false,
                                                 gw.access_log_buffer_bytes);
    rt->ctx.access_log = rt->access_log.get();
  }
  if (!gw.tls_listen.empty()) {
    // This shard's own TLS context (BoringSSL objects never cross shards), with
    // ticket keys every shard derives identically.
    const TlsConfig& tc = config_->tls;
    TlsServerConfig server;
    server.cert_file = tc.cert_file;
    server.key_file = tc.key_file;
    server.client_ca_file = tc.client_ca_file;
    server.min_version = tc.min_version_13 ? TlsVersion::kTls13 : TlsVersion::kTls12;
    server.enable_http2 = gw.enable_http2;
    for (const TlsSniSection& sni : tc.sni) {
      server.sni_certs.push_back({sni.server_names, sni.cert_file, sni.key_file});
    }
    if (tc.session_tickets) {
      rt->ticket_schedule =
          std::make_unique<TicketKeySchedule>(ticket_master_, tc.session_ticket_rotation_s);
      server.ticket_keys =
          rt->ticket_schedule->keys_for_period(rt->ticket_schedule->period_at(monotonic_ms()));
    } else {
      server.ticket_keys_disabled = true;
    }
    TlsServerContextResult made = TlsServerContext::create(server);
    if (!made.context) {
      started->set_value("shard " + std::to_string(index_) + ": [tls] " + made.error);
      return;
    }
    rt->tls_server = std::move(made.context);
    rt->ctx.tls_server = rt->tls_server.get();
    if (rt->ticket_schedule) {
      rt->ticket_rotation.callback = ShardRuntime::on_ticket_rotation;
      rt->ticket_rotation.owner = rt.get();
      rt->loop.arm_timer(&rt->ticket_rotation,
                         rt->ticket_schedule->ms_until_next_period(monotonic_ms()));
    }
  }
  std::vector<std::pair<const SockAddr*, bool>> addresses;
  for (const SockAddr& addr : gw.listen) addresses.push_back({&addr, false});
  for (const SockAddr& addr : gw.tls_listen) addresses.push_back({&addr, true});
  for (auto [addr, tls] : addresses) {
    int fd = open_listener(*addr, &error);
    if (fd < 0) {
      for (auto& l : rt->listeners) close(l->fd);
      started->set_value(error);
      return;
    }
    auto l = std::make_unique<ShardRuntime::Listener>();
    l->rt = rt.get();
    l->fd = fd;
    l->tls = tls;
    l->accept_op.complete = ShardRuntime::on_accept;
    l->accept_op.owner = l.get();
    l->retry_timer.callback = ShardRuntime::on_accept_retry;
    l->retry_timer.owner = l.get();
    rt->listeners.push_back(std::move(l));
  }
  rt->control_fd = control_fd_;
  rt->commands = &commands_;
  rt->control_op.complete = ShardRuntime::on_control;
  rt->control_op.owner = rt.get();
  rt->drain_deadline.callback = ShardRuntime::on_drain_deadline;
  rt->drain_deadline.owner = rt.get();
  rt->exit_deadline.callback = [](Timer*) {};
  rt->exit_deadline.owner = rt.get();
  rt->arm_control();
  for (auto& l : rt->listeners) rt->arm_accept(l.get());
  started->set_value("");

  while (!rt->finished()) rt->loop.run_once();
  // Give closing upstream connections a few turns to finish their close.
  rt->pools->shutdown();
  rt->loop.arm_timer(&rt->exit_deadline, 1000);  // bounds the wait below
  for (int i = 0; i < 100 && rt->pools->connection_count() > 0; ++i) rt->loop.run_once();
  counters_ = rt->ctx.counters;
  if (rt->access_log && rt->access_log->dropped_lines() > 0) {
    RW_LOG(Warn, "access log: %llu line(s) dropped (access_log_buffer_bytes full)",
           static_cast<unsigned long long>(rt->access_log->dropped_lines()));
  }
  RW_LOG(Debug, "shard stopped: %llu connections, %llu requests",
         static_cast<unsigned long long>(counters_.connections_accepted),
         static_cast<unsigned long long>(counters_.requests));
  if (rt->tls_server) {
    RW_LOG(Debug, "shard stopped: tls handshakes %llu (%llu resumed), %llu failed",
           static_cast<unsigned long long>(counters_.tls_handshakes),
           static_cast<unsigned long long>(counters_.tls_resumed_handshakes),
           static_cast<unsigned long long>(counters_.tls_handshake_failures));
  }
  for (auto& l : rt->listeners) {
    if (l->fd >= 0) close(l->fd);
  }
}

}  // namespace ringway
