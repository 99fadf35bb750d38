#include "runtime/shard.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin_handler.h"
#include "auth/auth_filter.h"
#include "auth/key_resolver.h"
#include "auth/quota_tracker.h"
#include "auth/rate_limiter.h"
#include "base/clock.h"
#include "base/log.h"
#include "io/loop.h"
#include "listener/downstream_conn.h"
#include "mem/slice.h"
#include "pipeline/access_log.h"
#include "pipeline/api_stats.h"
#include "pipeline/proxy_generation.h"
#include "pipeline/proxy_shard.h"
#include "plugin/hook_filters.h"
#include "runtime/descriptor_reserve.h"
#include "runtime/mailboxes.h"
#include "runtime/shard_mailbox.h"
#include "runtime/shard_metrics.h"
#include "runtime/store_thread.h"
#include "stats/process_stats.h"
#include "tls/crypto.h"
#include "tls/ticket_key_schedule.h"
#include "tls/tls_context.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

constexpr int kListenBacklog = 4096;
// Accept errors the reserve descriptor cannot help with are retried after this pause
// instead of spinning.
constexpr uint64_t kAcceptRetryMs = 100;
// Out of descriptors: waiting connections closed per failed accept (the rest in a
// later turn), and failed accepts logged at most this often per shard.
constexpr uint32_t kShedPerTurn = 64;
constexpr uint64_t kAcceptErrorLogIntervalMs = 1000;
// /metrics collections in progress per shard; beyond it new ones get 503.
constexpr size_t kMaxCollections = 16;
// Retired upstream pools are checked this often until their last connection closed.
constexpr uint64_t kPoolCollectMs = 1000;

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

class ShardRuntime;

// One configuration generation as this shard runs it: the configuration, the TLS
// context of its TLS listeners and the proxy pipeline's routes, filters and pools.
// Two kinds of holders: connections, for their whole life (the configuration and TLS
// context they were accepted under), and requests, from head to end (routes and
// pools). Once the generation is no longer the newest, its pipeline half goes as
// soon as no request holds it — so its upstream pools retire and their connections
// close once idle, even while older client connections stay open — and the rest
// when no connection holds it either.
class ShardGeneration final : public ListenerScope {
 public:
  ShardGeneration(ShardRuntime* rt, std::shared_ptr<const Config> config, uint64_t number)
      : rt_(rt), config_(std::move(config)), number_(number), requests_(this) {}

  // ListenerScope (connections)
  const Config& config() const override { return *config_; }
  TlsServerContext* tls_server() const override { return tls_server_.get(); }
  void acquire() override { ++connection_refs_; }
  void release() override;

  // The holder requests acquire through ProxyGeneration.
  class RequestRefs final : public GenerationRefs {
   public:
    explicit RequestRefs(ShardGeneration* gen) : gen_(gen) {}
    void acquire() override { ++gen_->request_refs_; }
    void release() override;

   private:
    ShardGeneration* gen_;
  };

  bool unused() const { return !current_ && connection_refs_ == 0 && request_refs_ == 0; }
  // The pipeline half can go: not the newest and no request on it.
  bool proxy_unused() const { return !current_ && request_refs_ == 0 && proxy_; }

  ShardRuntime* rt_;
  std::shared_ptr<const Config> config_;
  uint64_t number_;
  std::unique_ptr<TlsServerContext> tls_server_;
  std::unique_ptr<ProxyGeneration> proxy_;
  RequestRefs requests_;
  uint32_t connection_refs_ = 0;
  uint32_t request_refs_ = 0;
  bool current_ = false;

 private:
  ShardGeneration(const ShardGeneration&) = delete;
};

enum class ListenerKind : uint8_t { kProxy, kTls, kAdmin };

struct ListenerSocket {
  ShardRuntime* rt = nullptr;
  uint64_t id = 0;  // unique on the shard: connections remember it
  ListenerKind kind = ListenerKind::kProxy;
  SockAddr address;
  std::string key;  // kind + address bytes
  int fd = -1;
  Op accept_op;
  Op poll_op;  // out of descriptors: waits for a connection to arrive
  Timer retry_timer;
  bool armed = false;
  bool polling = false;
  bool removed = false;  // dropped by a reload: closes once its accept is cancelled
};

std::string listener_key(ListenerKind kind, const SockAddr& address) {
  std::string key(1, static_cast<char>(kind));
  key.append(reinterpret_cast<const char*>(&address.storage), address.len);
  return key;
}

const char* kind_name(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kProxy: return "listen";
    case ListenerKind::kTls: return "tls_listen";
    case ListenerKind::kAdmin: return "admin listen";
  }
  return "?";
}

// Everything the shard thread owns while it runs; destroyed in reverse order, the
// loop (and with it the ring) last.
class ShardRuntime final : public AdminBackend,
                           private Deferred,
                           private ShardMailbox::Handler,
                           private KeyLookupBackend,
                           private SessionSink {
 public:
  ShardRuntime(const ShardOptions& options, Mailboxes* mailboxes, int event_fd)
      : options_(options),
        mailboxes_(mailboxes),
        mailbox_(mailboxes, static_cast<uint32_t>(options.index), &loop_, event_fd, this),
        pools_(&loop_, &memory_),
        proxy_handlers_(&proxy_),
        admin_handlers_(this) {}
  ~ShardRuntime();

  bool init(std::shared_ptr<const Config> config, std::string* error);
  void run();
  uint64_t requests_served() const { return http_stats_.requests; }

  // AdminBackend
  void collect_metrics(MetricsWaiter* waiter) override;
  void cancel_metrics(MetricsWaiter* waiter) override;
  bool request_reload(ReloadWaiter* waiter) override;
  void cancel_reload(ReloadWaiter* waiter) override;
  AdminStatus status() const override;
  const AdminConfig& admin_config() const override { return current_->config().admin; }
  bool key_api(std::unique_ptr<KeyApiRequest> request, KeyApiWaiter* waiter,
               const char** why) override;
  void cancel_key_api(KeyApiWaiter* waiter) override;

  void generation_unused(ShardGeneration* gen);

 private:
  struct Collection {
    ShardRuntime* rt = nullptr;
    uint64_t id = 0;
    MetricsWaiter* waiter = nullptr;  // null: the client went away
    std::vector<std::unique_ptr<ShardMetrics>> replies;
    uint32_t expected = 0;
    Timer timeout;
  };

  // A key API call: waiting for the store, then for every shard's invalidation.
  struct KeyCall {
    ShardRuntime* rt = nullptr;
    uint64_t id = 0;
    KeyApiWaiter* waiter = nullptr;  // null: the client went away
    std::unique_ptr<KeyApiResponse> response;  // once the store answered
    uint32_t acks_expected = 0;
    Timer timeout;
  };

  // Authentication.
  void init_auth(const StoreConfig& store);
  bool post_lookup(KeyLookup&& lookup) override;
  void store_session(const std::string& key, const SessionState& session) override;
  void invalidate_key(const KeyDigest& subject);
  void on_key_api_reply(KeyApiReplyMessage& m);
  void on_invalidate_ack(InvalidateAckMessage& m);
  void finish_key_call(std::list<KeyCall>::iterator it);
  static void on_key_call_timeout(Timer* t);
  static void on_quota_flush(Timer* t);

  // Generations.
  std::unique_ptr<ShardGeneration> build_generation(std::shared_ptr<const Config> config,
                                                    uint64_t number, std::string* error);
  void install(std::unique_ptr<ShardGeneration> gen);
  bool apply_listeners(const Config& config, bool at_start, std::string* error);
  void run_deferred() override;
  static void on_pool_collect(Timer* t);

  // Listeners.
  void arm_accept(ListenerSocket* l);
  static void on_accept(Op* op, int32_t res, uint32_t flags);
  static void on_accept_retry(Timer* t);
  void on_accept_error(ListenerSocket* l, int error);
  static void on_listener_poll(Op* op, int32_t res, uint32_t flags);
  void stop_accepting(ListenerSocket* l);
  void erase_listener(ListenerSocket* l);
  void accept_connection(int fd, ListenerSocket* l);
  void remove_listener(ListenerSocket* l);

  // ShardMailbox::Handler
  void handle(ShardMessage&& message) override;

  // Messages.
  void on_reload(ReloadMessage& m);
  void on_reload_failed(ReloadFailedMessage& m);
  void finish_reload_waiters(uint64_t covers, bool ok, std::string_view message);
  std::unique_ptr<ShardMetrics> snapshot() const;
  void on_metrics_reply(MetricsReplyMessage& m);
  void finish_collection(std::list<Collection>::iterator it);
  static void on_collection_timeout(Timer* t);

  // Drain and TLS tickets.
  void start_drain();
  static void on_drain_deadline(Timer* t);
  static void on_ticket_rotation(Timer* t);

 public:
  bool finished() const {
    return draining_ && connections_.size() == 0 && proxy_.active_exchanges == 0 &&
           (!access_log_ || access_log_->idle());
  }
  void finish_exit();

 private:
  ShardOptions options_;
  Mailboxes* mailboxes_;
  Loop loop_;
  ShardMailbox mailbox_;
  // Counters.
  DownstreamStats downstream_stats_;
  HttpServerStats http_stats_;
  // Bytes held in the shard's connection buffers ([gateway] max_memory_bytes).
  MemoryBudget memory_;
  ApiStatsTable api_stats_;
  uint64_t reloads_applied_ = 0;
  uint64_t reloads_failed_ = 0;
  // Authentication (when a key store runs): the cache and lookups, rate limits and
  // quotas, shared by the filters of every generation.
  std::unique_ptr<KeyResolver> key_resolver_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<QuotaTracker> quotas_;
  AuthShard auth_;
  Timer quota_flush_;
  uint32_t quota_flush_ms_ = 0;
  std::list<KeyCall> key_calls_;
  uint64_t key_call_seq_ = 0;
  // Rich plugins: counters across generations (each generation has its client).
  PluginShard plugins_;
  // Pipeline.
  UpstreamPools pools_;
  std::unique_ptr<AccessLog> access_log_;
  ProxyShard proxy_;
  ProxyHandlerFactory proxy_handlers_;
  AdminHandlerFactory admin_handlers_;
  // Generations: the newest first; older ones until nothing holds them.
  ShardGeneration* current_ = nullptr;
  std::list<std::unique_ptr<ShardGeneration>> generations_;
  std::vector<ShardGeneration*> unused_;  // freed at the end of the turn
  Timer pool_collect_;
  // Listeners and connections.
  std::vector<std::unique_ptr<ListenerSocket>> listeners_;
  uint64_t listener_seq_ = 0;
  DescriptorReserve fd_reserve_;
  uint64_t accept_error_log_ms_ = 0;  // failed accepts are logged at most once a second
  uint64_t accept_errors_not_logged_ = 0;
  DownstreamConnList connections_;
  ListenerContext listener_context_;
  // TLS session tickets (the same keys on every shard).
  std::unique_ptr<TicketKeySchedule> ticket_schedule_;
  Timer ticket_rotation_;
  // /metrics collections and /tyk/reload?block=true waiters.
  std::list<Collection> collections_;
  uint64_t collect_seq_ = 0;
  std::vector<std::pair<uint64_t, ReloadWaiter*>> reload_waiters_;
  uint64_t reload_seq_ = 0;
  // Drain.
  bool draining_ = false;
  Timer drain_deadline_;
  Timer exit_deadline_;
};

void ShardGeneration::release() {
  if (--connection_refs_ == 0 && !current_) rt_->generation_unused(this);
}

void ShardGeneration::RequestRefs::release() {
  if (--gen_->request_refs_ == 0 && !gen_->current_) gen_->rt_->generation_unused(gen_);
}

ShardRuntime::~ShardRuntime() {
  // The ring closes with the loop: other shards wake this one by its eventfd now.
  mailboxes_->stop_ring_wakes(static_cast<uint32_t>(options_.index));
  loop_.disarm_timer(&pool_collect_);
  loop_.disarm_timer(&ticket_rotation_);
  loop_.disarm_timer(&drain_deadline_);
  loop_.disarm_timer(&exit_deadline_);
  loop_.disarm_timer(&quota_flush_);
  for (Collection& c : collections_) loop_.disarm_timer(&c.timeout);
  for (KeyCall& c : key_calls_) loop_.disarm_timer(&c.timeout);
  for (auto& l : listeners_) {
    loop_.disarm_timer(&l->retry_timer);
    if (l->fd >= 0) close(l->fd);
  }
  if (thread_buffer_ring() == &loop_.buffers()) set_thread_buffer_ring(nullptr);
}

bool ShardRuntime::init(std::shared_ptr<const Config> config, std::string* error) {
  const GatewayConfig& gw = config->gateway;
  LoopLimits limits{gw.ring_entries, gw.buffer_count, gw.buffer_size};
  if (!loop_.init(limits, error)) return false;
  set_thread_buffer_ring(&loop_.buffers());
  set_thread_block_cache_limit(gw.block_cache_bytes);

  proxy_.loop = &loop_;
  proxy_.shard_index = options_.index;
  plugins_.loop = &loop_;
  proxy_.http_stats = &http_stats_;
  proxy_.unrouted_stats = api_stats_.get("-");
  listener_context_ = ListenerContext{&loop_, options_.index, &connections_,
                                      &downstream_stats_, &http_stats_, &memory_};
  if (options_.access_log_fd >= 0) {
    access_log_ = std::make_unique<AccessLog>(&loop_, options_.index, options_.access_log_fd,
                                              false, gw.access_log_buffer_bytes);
    proxy_.access_log = access_log_.get();
  }
  pool_collect_.callback = on_pool_collect;
  pool_collect_.owner = this;
  ticket_rotation_.callback = on_ticket_rotation;
  ticket_rotation_.owner = this;
  drain_deadline_.callback = on_drain_deadline;
  drain_deadline_.owner = this;
  exit_deadline_.callback = [](Timer*) {};
  exit_deadline_.owner = this;
  if (options_.store) init_auth(config->store);

  std::unique_ptr<ShardGeneration> gen = build_generation(std::move(config), 1, error);
  if (!gen) return false;
  if (!apply_listeners(gen->config(), true, error)) return false;
  install(std::move(gen));

  // Mailboxes: woken by MSG_RING from other shards, by the eventfd from the control
  // thread, and checked at the end of every turn.
  mailbox_.start();
  if (!fd_reserve_.open()) {
    // Tried again whenever descriptors run out.
    RW_LOG(Warn, "cannot open the reserve descriptor (/dev/null): %s", strerror(errno));
  }
  for (auto& l : listeners_) arm_accept(l.get());
  return true;
}

// ---------------------------------------------------------------------------------
// Generations

std::unique_ptr<ShardGeneration> ShardRuntime::build_generation(
    std::shared_ptr<const Config> config, uint64_t number, std::string* error) {
  auto gen = std::make_unique<ShardGeneration>(this, std::move(config), number);
  const Config& cfg = gen->config();
  if (!cfg.gateway.tls_listen.empty()) {
    // This shard's own TLS context (BoringSSL objects never cross shards), with
    // ticket keys every shard derives identically.
    const TlsConfig& tc = cfg.tls;
    TlsServerConfig server;
    server.cert_file = tc.cert_file;
    server.key_file = tc.key_file;
    server.client_ca_file = tc.client_ca_file;
    server.min_version = tc.min_version_13 ? TlsVersion::kTls13 : TlsVersion::kTls12;
    server.enable_http2 = cfg.gateway.enable_http2;
    for (const TlsSniSection& sni : tc.sni) {
      server.sni_certs.push_back({sni.server_names, sni.cert_file, sni.key_file});
    }
    if (tc.session_tickets && !ticket_schedule_) {
      // The first configuration with TLS sets the rotation period (a later change
      // of session_ticket_rotation_s needs a restart).
      ticket_schedule_ = std::make_unique<TicketKeySchedule>(options_.ticket_master,
                                                             tc.session_ticket_rotation_s);
      loop_.arm_timer(&ticket_rotation_,
                      ticket_schedule_->ms_until_next_period(loop_.now_ms()));
    }
    if (tc.session_tickets) {
      server.ticket_keys =
          ticket_schedule_->keys_for_period(ticket_schedule_->period_at(loop_.now_ms()));
    } else {
      server.ticket_keys_disabled = true;
    }
    TlsServerContextResult made = TlsServerContext::create(server);
    if (!made.context) {
      *error = "[tls] " + made.error;
      return nullptr;
    }
    gen->tls_server_ = std::move(made.context);
  }
  gen->proxy_ =
      ProxyGeneration::build(gen->config_, &loop_, options_.index, pools_, api_stats_,
                             proxy_.auth, &plugins_, &gen->requests_, error);
  if (!gen->proxy_) return nullptr;
  return gen;
}

void ShardRuntime::install(std::unique_ptr<ShardGeneration> gen) {
  ShardGeneration* old = current_;
  gen->current_ = true;
  current_ = gen.get();
  proxy_.current = gen->proxy_.get();
  generations_.push_front(std::move(gen));
  if (old) {
    old->current_ = false;
    generation_unused(old);  // what nothing holds goes at the end of the turn
  }
}

void ShardRuntime::generation_unused(ShardGeneration* gen) {
  // Freed at the end of the turn: the request that dropped the last reference may
  // be inside a callback of one of the generation's pools.
  if (std::find(unused_.begin(), unused_.end(), gen) == unused_.end()) unused_.push_back(gen);
  loop_.queue_deferred(this);
}

void ShardRuntime::run_deferred() {
  if (unused_.empty()) return;
  std::vector<ShardGeneration*> unused;
  unused.swap(unused_);
  for (ShardGeneration* gen : unused) {
    if (gen->proxy_unused()) {
      // No request left on it: its routes go, and with them its hold on the pools.
      RW_LOG(Debug, "configuration generation %llu: pipeline released",
             static_cast<unsigned long long>(gen->number_));
      gen->proxy_.reset();
    }
    if (!gen->unused()) continue;  // connections still hold its configuration
    RW_LOG(Debug, "configuration generation %llu released",
           static_cast<unsigned long long>(gen->number_));
    generations_.remove_if([gen](const std::unique_ptr<ShardGeneration>& g) {
      return g.get() == gen;
    });
  }
  // Pools only the freed generations used are retired (their idle connections close
  // now, busy ones when their requests end).
  if (pools_.collect() && !pool_collect_.armed) loop_.arm_timer(&pool_collect_, kPoolCollectMs);
}

void ShardRuntime::on_pool_collect(Timer* t) {
  auto* rt = static_cast<ShardRuntime*>(t->owner);
  if (rt->pools_.collect()) rt->loop_.arm_timer(&rt->pool_collect_, kPoolCollectMs);
}

// Opens the listeners |config| names that are not open yet and closes those it no
// longer names. At start every failure is fatal; on reload it is logged and the
// other listeners carry on.
bool ShardRuntime::apply_listeners(const Config& config, bool at_start, std::string* error) {
  std::vector<std::pair<ListenerKind, const SockAddr*>> wanted;
  for (const SockAddr& a : config.gateway.listen) wanted.push_back({ListenerKind::kProxy, &a});
  for (const SockAddr& a : config.gateway.tls_listen) wanted.push_back({ListenerKind::kTls, &a});
  if (config.admin.enabled) {
    for (const SockAddr& a : config.admin.listen) wanted.push_back({ListenerKind::kAdmin, &a});
  }
  std::vector<std::string> keys;
  for (auto [kind, addr] : wanted) {
    std::string key = listener_key(kind, *addr);
    keys.push_back(key);
    bool open = std::any_of(listeners_.begin(), listeners_.end(),
                            [&](const auto& l) { return l->key == key && !l->removed; });
    if (open) continue;
    std::string why;
    int fd = open_listener(*addr, &why);
    if (fd < 0) {
      if (at_start) {
        *error = why;
        return false;
      }
      RW_LOG(Error, "reload: cannot open %s %s: %s", kind_name(kind), addr->text.c_str(),
             why.c_str());
      continue;
    }
    auto l = std::make_unique<ListenerSocket>();
    l->rt = this;
    l->id = ++listener_seq_;
    l->kind = kind;
    l->address = *addr;
    l->key = key;
    l->fd = fd;
    l->accept_op.complete = on_accept;
    l->accept_op.owner = l.get();
    l->poll_op.complete = on_listener_poll;
    l->poll_op.owner = l.get();
    l->retry_timer.callback = on_accept_retry;
    l->retry_timer.owner = l.get();
    if (!at_start) {
      RW_LOG(Info, "reload: now accepting on %s %s", kind_name(kind), addr->text.c_str());
      arm_accept(l.get());
    }
    listeners_.push_back(std::move(l));
  }
  std::vector<ListenerSocket*> gone;
  for (auto& l : listeners_) {
    if (l->removed || std::find(keys.begin(), keys.end(), l->key) != keys.end()) continue;
    gone.push_back(l.get());
  }
  for (ListenerSocket* l : gone) {
    RW_LOG(Info, "reload: no longer accepting on %s %s", kind_name(l->kind),
           l->address.text.c_str());
    remove_listener(l);
  }
  return true;
}

void ShardRuntime::remove_listener(ListenerSocket* l) {
  l->removed = true;
  // Its connections finish what they are doing and close (as NGINX's old workers do
  // on reload): a removed admin address, say, is no longer reachable at all.
  uint64_t id = l->id;
  connections_.for_each([id](DownstreamConn* c) {
    if (c->listener_id() == id) c->drain();
  });
  stop_accepting(l);
  // Closing the socket takes it out of the SO_REUSEPORT group: new connections go to
  // the sockets still listening (or are refused). The ring keeps its own reference
  // until the cancelled accept (or poll) completes.
  if (l->fd >= 0) {
    close(l->fd);
    l->fd = -1;
  }
  if (!l->armed && !l->polling) erase_listener(l);
}

void ShardRuntime::stop_accepting(ListenerSocket* l) {
  loop_.disarm_timer(&l->retry_timer);
  if (l->armed) loop_.ring().cancel(&l->accept_op);
  if (l->polling) loop_.ring().cancel(&l->poll_op);
}

void ShardRuntime::erase_listener(ListenerSocket* l) {
  listeners_.erase(std::find_if(listeners_.begin(), listeners_.end(),
                                [l](const auto& p) { return p.get() == l; }));
}

// ---------------------------------------------------------------------------------
// Listeners

void ShardRuntime::arm_accept(ListenerSocket* l) {
  if (draining_ || l->fd < 0 || l->removed) return;
  l->armed = true;
  loop_.ring().accept_multishot(l->fd, &l->accept_op);
}

void ShardRuntime::on_accept(Op* op, int32_t res, uint32_t flags) {
  auto* l = static_cast<ListenerSocket*>(op->owner);
  ShardRuntime* rt = l->rt;
  if (!(flags & IORING_CQE_F_MORE)) l->armed = false;
  if (res >= 0) {
    if (l->removed || rt->draining_) {
      close(res);
    } else {
      rt->accept_connection(res, l);
    }
  } else if (res != -ECANCELED && !rt->draining_ && !l->removed) {
    rt->on_accept_error(l, -res);
    return;
  }
  if (l->removed && !l->armed) {
    if (!l->polling) rt->erase_listener(l);
    return;
  }
  if (!l->armed && res >= 0) rt->arm_accept(l);
}

// A failed accept ends the multishot accept. Out of descriptors, an accept fails at
// once whether or not a connection waits (the kernel takes the descriptor first), so
// it cannot simply be armed again: the waiting connections are closed through the
// reserve descriptor, and a poll waits for the next one before accepting again (which
// takes it, or fails and closes it). Anything else, or a reserve that did not help,
// is retried after kAcceptRetryMs.
void ShardRuntime::on_accept_error(ListenerSocket* l, int error) {
  bool descriptors = error == EMFILE || error == ENFILE;
  DescriptorReserve::ShedResult shed;
  if (descriptors) {
    ++downstream_stats_.accept_errors_descriptors;
    shed = fd_reserve_.shed(l->fd, kShedPerTurn);
    downstream_stats_.connections_shed += shed.shed;
  } else {
    ++downstream_stats_.accept_errors_other;
  }
  // Bounded per turn: when kShedPerTurn were closed the poll fires at once, and the
  // rest go in a later turn.
  bool poll = descriptors && (shed.backlog_empty || shed.shed == kShedPerTurn);
  uint64_t now = loop_.now_ms();
  if (accept_error_log_ms_ != 0 && now - accept_error_log_ms_ < kAcceptErrorLogIntervalMs) {
    ++accept_errors_not_logged_;
  } else {
    char what[64] = "";
    if (descriptors) {
      snprintf(what, sizeof(what), "; closed %u waiting connection(s) at once", shed.shed);
    }
    char retry[48] = "";
    if (!poll) {
      snprintf(retry, sizeof(retry), "; retrying in %llu ms",
               static_cast<unsigned long long>(kAcceptRetryMs));
    }
    char more[64] = "";
    if (accept_errors_not_logged_ != 0) {
      snprintf(more, sizeof(more), " (%llu more since the last line)",
               static_cast<unsigned long long>(accept_errors_not_logged_));
    }
    RW_LOG(Warn, "accept on %s %s failed: %s%s%s%s", kind_name(l->kind),
           l->address.text.c_str(), strerror(error), what, retry, more);
    accept_error_log_ms_ = now;
    accept_errors_not_logged_ = 0;
  }
  if (l->armed || l->polling) return;
  if (poll) {
    l->polling = true;
    loop_.ring().poll_in(l->fd, &l->poll_op);
  } else {
    loop_.arm_timer(&l->retry_timer, kAcceptRetryMs);
  }
}

void ShardRuntime::on_listener_poll(Op* op, int32_t res, uint32_t) {
  auto* l = static_cast<ListenerSocket*>(op->owner);
  ShardRuntime* rt = l->rt;
  l->polling = false;
  if (l->removed) {
    if (!l->armed) rt->erase_listener(l);
    return;
  }
  if (rt->draining_ || l->armed) return;
  if (res < 0) {
    rt->loop_.arm_timer(&l->retry_timer, kAcceptRetryMs);
    return;
  }
  rt->arm_accept(l);
}

void ShardRuntime::on_accept_retry(Timer* t) {
  auto* l = static_cast<ListenerSocket*>(t->owner);
  if (!l->armed && !l->polling) l->rt->arm_accept(l);
}

void ShardRuntime::accept_connection(int fd, ListenerSocket* l) {
  if (connections_.size() >= current_->config().gateway.max_connections) {
    // At the limit: refuse quickly rather than queue without bound.
    ++downstream_stats_.connections_rejected;
    close(fd);
    return;
  }
  ++downstream_stats_.connections_accepted;
  RequestHandlerFactory* handlers = &proxy_handlers_;
  ListenerContext context = listener_context_;
  if (l->kind == ListenerKind::kAdmin) {
    handlers = &admin_handlers_;
    context.shed_over_memory = false;
  }
  // The connection keeps the configuration it was accepted under.
  auto* conn = new DownstreamConn(context, current_, handlers, l->id, fd,
                                  peer_address(fd), l->kind == ListenerKind::kTls);
  conn->start();
}

// ---------------------------------------------------------------------------------
// Authentication

void ShardRuntime::init_auth(const StoreConfig& store) {
  key_resolver_ = std::make_unique<KeyResolver>(&loop_, store, static_cast<KeyLookupBackend*>(this));
  rate_limiter_ = std::make_unique<RateLimiter>(store.rate_limit_keys,
                                                mailboxes_->shard_count());
  quotas_ = std::make_unique<QuotaTracker>(store.rate_limit_keys);
  auth_.loop = &loop_;
  auth_.resolver = key_resolver_.get();
  auth_.rate_limiter = rate_limiter_.get();
  auth_.quotas = quotas_.get();
  random_bytes(auth_.credential_salt.data(), auth_.credential_salt.size());
  proxy_.auth = &auth_;
  plugins_.auth = &auth_;
  plugins_.sessions = this;
  quota_flush_ms_ = store.quota_flush_ms;
  quota_flush_.callback = on_quota_flush;
  quota_flush_.owner = this;
  loop_.arm_timer(&quota_flush_, quota_flush_ms_);
}

bool ShardRuntime::post_lookup(KeyLookup&& lookup) {
  return mailbox_.post(mailboxes_->store(),
                       KeyLookupMessage{std::make_unique<KeyLookup>(std::move(lookup))});
}

void ShardRuntime::store_session(const std::string& key, const SessionState& session) {
  // Not waited for: the shard has the session already (its cache), the store keeps
  // it for the key API and for the other shards' lookups.
  auto payload = std::make_unique<std::pair<std::string, SessionState>>(key, session);
  mailbox_.post_or_queue(mailboxes_->store(), StoreSessionMessage{std::move(payload)});
}

void ShardRuntime::invalidate_key(const KeyDigest& subject) {
  if (!key_resolver_) return;
  plugins_.stored_sessions.erase(subject);  // a custom-auth session is written again
  key_resolver_->invalidate(subject);
  rate_limiter_->forget(subject);
  quotas_->forget(subject);
}

void ShardRuntime::on_quota_flush(Timer* t) {
  auto* rt = static_cast<ShardRuntime*>(t->owner);
  std::vector<QuotaUsage> report = rt->quotas_->take_report();
  if (!report.empty()) {
    rt->mailbox_.post_or_queue(
        rt->mailboxes_->store(),
        QuotaUsageMessage{std::make_unique<std::vector<QuotaUsage>>(std::move(report))});
  }
  rt->loop_.arm_timer(&rt->quota_flush_, rt->quota_flush_ms_);
}

bool ShardRuntime::key_api(std::unique_ptr<KeyApiRequest> request, KeyApiWaiter* waiter,
                           const char** why) {
  if (!options_.store) {
    *why = "no key store runs: add a [store] section (or an API with Basic or token auth) "
           "and restart";
    return false;
  }
  uint64_t id = ++key_call_seq_;
  request->id = id;
  if (!mailbox_.post(mailboxes_->store(), KeyApiMessage{std::move(request)})) {
    *why = "the key store's mailbox is full; try again";
    return false;
  }
  key_calls_.emplace_back();
  KeyCall& c = key_calls_.back();
  c.rt = this;
  c.id = id;
  c.waiter = waiter;
  c.timeout.callback = on_key_call_timeout;
  c.timeout.owner = &c;
  // The store's answer and every shard's acknowledgement within the /metrics bound
  // (the same kind of wait: all shards answering a message).
  loop_.arm_timer(&c.timeout, current_->config().admin.collect_timeout_ms +
                                  current_->config().store.lookup_timeout_ms);
  return true;
}

void ShardRuntime::cancel_key_api(KeyApiWaiter* waiter) {
  for (KeyCall& c : key_calls_) {
    if (c.waiter == waiter) c.waiter = nullptr;  // the call still completes
  }
}

void ShardRuntime::on_key_api_reply(KeyApiReplyMessage& m) {
  if (!m.response) return;
  auto it = key_calls_.begin();
  while (it != key_calls_.end() && it->id != m.response->id) ++it;
  uint32_t acks = 0;
  if (m.response->changed) {
    // Every shard drops what it cached about the key before the caller hears back
    // (and even when the caller gave up waiting: the key did change).
    invalidate_key(m.response->subject);
    uint32_t self = static_cast<uint32_t>(options_.index);
    for (uint32_t to = 0; to < mailboxes_->shard_count(); ++to) {
      if (to == self) continue;
      if (mailbox_.post_or_queue(to, InvalidateKeyMessage{m.response->id,
                                                          m.response->subject})) {
        ++acks;
      } else {
        // Only a shard that has not taken 2048 messages from this one gets here.
        RW_LOG(Error, "key API: shard %u's mailbox is full: it keeps its cached answers "
                      "for the changed key up to cache_ttl_ms", to);
      }
    }
  }
  if (it == key_calls_.end()) return;  // timed out meanwhile
  it->response = std::move(m.response);
  it->acks_expected = acks;
  if (acks == 0) finish_key_call(it);
}

void ShardRuntime::on_invalidate_ack(InvalidateAckMessage& m) {
  for (auto it = key_calls_.begin(); it != key_calls_.end(); ++it) {
    if (it->id != m.request) continue;
    if (it->acks_expected > 0 && --it->acks_expected == 0 && it->response) finish_key_call(it);
    return;
  }
}

void ShardRuntime::finish_key_call(std::list<KeyCall>::iterator it) {
  loop_.disarm_timer(&it->timeout);
  KeyApiWaiter* waiter = it->waiter;
  std::unique_ptr<KeyApiResponse> response = std::move(it->response);
  key_calls_.erase(it);
  if (waiter && response) waiter->on_key_api_done(response->status, std::move(response->body));
}

void ShardRuntime::on_key_call_timeout(Timer* t) {
  auto* c = static_cast<KeyCall*>(t->owner);
  ShardRuntime* rt = c->rt;
  for (auto it = rt->key_calls_.begin(); it != rt->key_calls_.end(); ++it) {
    if (&*it != c) continue;
    KeyApiWaiter* waiter = it->waiter;
    std::unique_ptr<KeyApiResponse> response = std::move(it->response);
    rt->key_calls_.erase(it);
    if (!waiter) return;
    if (response) {
      // Written, but a shard did not confirm in time (it will still drop its entries
      // when it gets to the message): the write stands, so the answer is the store's.
      RW_LOG(Warn, "key API: a shard did not confirm the cache invalidation in time");
      waiter->on_key_api_done(response->status, std::move(response->body));
    } else {
      waiter->on_key_api_done(
          503, key_api_error_body("the key store did not answer in time; the change may "
                                  "still be applied (GET the key to see)"));
    }
    return;
  }
}

// ---------------------------------------------------------------------------------
// Messages

void ShardRuntime::handle(ShardMessage&& message) {
  std::visit(
      [&](auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, DrainMessage>) {
          start_drain();
        } else if constexpr (std::is_same_v<T, ReloadMessage>) {
          on_reload(body);
        } else if constexpr (std::is_same_v<T, ReloadFailedMessage>) {
          on_reload_failed(body);
        } else if constexpr (std::is_same_v<T, CollectMetricsMessage>) {
          mailbox_.post_or_queue(message.from, MetricsReplyMessage{body.request, snapshot()});
        } else if constexpr (std::is_same_v<T, MetricsReplyMessage>) {
          on_metrics_reply(body);
        } else if constexpr (std::is_same_v<T, KeyLookupReplyMessage>) {
          if (key_resolver_ && body.result) key_resolver_->on_result(*body.result);
        } else if constexpr (std::is_same_v<T, KeyApiReplyMessage>) {
          on_key_api_reply(body);
        } else if constexpr (std::is_same_v<T, InvalidateKeyMessage>) {
          invalidate_key(body.subject);
          mailbox_.post_or_queue(message.from, InvalidateAckMessage{body.request});
        } else if constexpr (std::is_same_v<T, InvalidateAckMessage>) {
          on_invalidate_ack(body);
        } else if constexpr (std::is_same_v<T, QuotaStateMessage>) {
          if (quotas_ && body.states) {
            for (const QuotaState& s : *body.states) quotas_->on_store_state(s);
          }
        }
        // ReloadRequestMessage goes to the control thread only, KeyLookupMessage,
        // KeyApiMessage and QuotaUsageMessage to the store; monostate is empty.
      },
      message.body);
}

// ---------------------------------------------------------------------------------
// Reload

void ShardRuntime::on_reload(ReloadMessage& m) {
  if (draining_) return;
  std::string error;
  std::unique_ptr<ShardGeneration> gen = build_generation(m.config, m.generation, &error);
  if (!gen) {
    // The control thread checked the files moments ago; they changed since.
    ++reloads_failed_;
    RW_LOG(Error, "reload: generation %llu not applied on this shard: %s",
           static_cast<unsigned long long>(m.generation), error.c_str());
    finish_reload_waiters(m.covers, false, error);
    return;
  }
  apply_listeners(gen->config(), false, &error);
  install(std::move(gen));
  ++reloads_applied_;
  RW_LOG(Debug, "configuration generation %llu in use (%zu API(s))",
         static_cast<unsigned long long>(m.generation), current_->config().apis.size());
  finish_reload_waiters(m.covers, true, "");
}

void ShardRuntime::on_reload_failed(ReloadFailedMessage& m) {
  ++reloads_failed_;
  finish_reload_waiters(m.covers, false, m.errors);
}

void ShardRuntime::finish_reload_waiters(uint64_t covers, bool ok, std::string_view message) {
  if (covers == 0) return;
  std::vector<ReloadWaiter*> done;
  auto it = std::remove_if(reload_waiters_.begin(), reload_waiters_.end(),
                           [&](const std::pair<uint64_t, ReloadWaiter*>& w) {
                             if (w.first > covers) return false;
                             done.push_back(w.second);
                             return true;
                           });
  reload_waiters_.erase(it, reload_waiters_.end());
  for (ReloadWaiter* w : done) w->on_reload_done(ok, message);
}

bool ShardRuntime::request_reload(ReloadWaiter* waiter) {
  uint64_t seq = reload_seq_ + 1;
  if (!mailbox_.post(mailboxes_->control(), ReloadRequestMessage{seq})) return false;
  reload_seq_ = seq;
  if (waiter) reload_waiters_.push_back({seq, waiter});
  return true;
}

void ShardRuntime::cancel_reload(ReloadWaiter* waiter) {
  reload_waiters_.erase(std::remove_if(reload_waiters_.begin(), reload_waiters_.end(),
                                       [waiter](const auto& w) { return w.second == waiter; }),
                        reload_waiters_.end());
}

// ---------------------------------------------------------------------------------
// Metrics

std::unique_ptr<ShardMetrics> ShardRuntime::snapshot() const {
  auto m = std::make_unique<ShardMetrics>();
  m->shard = options_.index;
  m->downstream = downstream_stats_;
  m->http = http_stats_;
  m->memory = memory_;
  m->block_cache_bytes = thread_block_cache_bytes();  // (the snapshot runs on this shard)
  for (const auto& [name, stats] : api_stats_.all()) m->apis[name] = *stats;
  m->active_requests = proxy_.active_exchanges;
  m->upstream_pools = static_cast<uint32_t>(pools_.pool_count());
  m->generation = current_->number_;
  m->generations_live = generations_.size();
  m->reloads_applied = reloads_applied_;
  m->reloads_failed = reloads_failed_;
  m->loop_turns = loop_.turn();
  m->mailbox = mailbox_.stats();
  if (key_resolver_) {
    AuthMetrics& a = m->auth;
    a.enabled = true;
    const AuthCacheStats& cs = key_resolver_->cache().stats();
    a.cache_hits = cs.hits;
    a.cache_misses = cs.misses;
    a.cache_evictions = cs.evictions;
    a.cache_invalidations = cs.invalidations;
    a.cache_entries = key_resolver_->cache().size();
    const KeyResolverStats& rs = key_resolver_->stats();
    a.lookups = rs.lookups;
    a.lookups_joined = rs.lookups_joined;
    a.lookups_failed = rs.lookups_failed;
    a.lookups_repeated = rs.lookups_repeated;
    a.lookups_pending = key_resolver_->pending();
    a.allowed = auth_.stats.allowed;
    a.denied = auth_.stats.denied;
    a.waited = auth_.stats.waited;
    a.rate_limit_buckets = rate_limiter_->size();
    a.quota_keys = quotas_->size();
  }
  if (current_->config().coprocess.active()) {
    PluginMetrics& p = m->plugins;
    p.enabled = true;
    p.hooks = plugins_.hooks;
    p.filters = plugins_.stats;
    p.connections = plugins_.connections;
  }
  return m;
}

void ShardRuntime::collect_metrics(MetricsWaiter* waiter) {
  if (collections_.size() >= kMaxCollections) {
    waiter->on_metrics_failed("too many /metrics requests in progress");
    return;
  }
  collections_.emplace_back();
  auto it = std::prev(collections_.end());
  Collection& c = *it;
  c.rt = this;
  c.id = ++collect_seq_;
  c.waiter = waiter;
  c.timeout.callback = on_collection_timeout;
  c.timeout.owner = &c;
  c.replies.push_back(snapshot());
  uint32_t self = static_cast<uint32_t>(options_.index);
  for (uint32_t to = 0; to < mailboxes_->shard_count(); ++to) {
    if (to == self) continue;
    if (!mailbox_.post(to, CollectMetricsMessage{c.id})) {
      collections_.erase(it);
      waiter->on_metrics_failed("a shard's mailbox is full; try again");
      return;
    }
    ++c.expected;
  }
  if (c.expected == 0) {
    finish_collection(it);
    return;
  }
  loop_.arm_timer(&c.timeout, current_->config().admin.collect_timeout_ms);
}

void ShardRuntime::cancel_metrics(MetricsWaiter* waiter) {
  for (Collection& c : collections_) {
    if (c.waiter == waiter) c.waiter = nullptr;  // replies still arrive; then dropped
  }
}

void ShardRuntime::on_metrics_reply(MetricsReplyMessage& m) {
  for (auto it = collections_.begin(); it != collections_.end(); ++it) {
    if (it->id != m.request) continue;
    it->replies.push_back(std::move(m.metrics));
    if (it->replies.size() == it->expected + 1u) finish_collection(it);
    return;
  }
  // A reply after its collection timed out: dropped.
}

void ShardRuntime::finish_collection(std::list<Collection>::iterator it) {
  loop_.disarm_timer(&it->timeout);
  MetricsWaiter* waiter = it->waiter;
  std::vector<std::unique_ptr<ShardMetrics>> replies = std::move(it->replies);
  collections_.erase(it);
  if (!waiter) return;
  std::sort(replies.begin(), replies.end(),
            [](const auto& a, const auto& b) { return a->shard < b->shard; });
  std::vector<const ShardMetrics*> shards;
  for (const auto& r : replies) shards.push_back(r.get());
  ProcessStats process;
  read_process_stats(&process);
  StoreMetrics store;
  if (const StoreThread* st = options_.store) {
    store.enabled = true;
    const StoreThreadStats& s = st->stats();
    store.lookups = s.lookups.load(std::memory_order_relaxed);
    store.store_errors = s.store_errors.load(std::memory_order_relaxed);
    store.password_checks = s.password_checks.load(std::memory_order_relaxed);
    store.key_api_calls = s.key_api_calls.load(std::memory_order_relaxed);
    store.quota_batches = s.quota_batches.load(std::memory_order_relaxed);
    store.bcrypt_queue_depth = st->bcrypt().depth();
    store.bcrypt_refused = st->bcrypt().refused();
  }
  waiter->on_metrics(
      render_metrics(shards, process, store, options_.version, tls_library_name()));
}

void ShardRuntime::on_collection_timeout(Timer* t) {
  auto* c = static_cast<Collection*>(t->owner);
  ShardRuntime* rt = c->rt;
  for (auto it = rt->collections_.begin(); it != rt->collections_.end(); ++it) {
    if (&*it != c) continue;
    MetricsWaiter* waiter = it->waiter;
    rt->collections_.erase(it);
    if (waiter) waiter->on_metrics_failed("a shard did not report its counters in time");
    return;
  }
}

AdminStatus ShardRuntime::status() const {
  AdminStatus st;
  st.version = options_.version;
  st.shards = mailboxes_->shard_count();
  st.generation = current_->number_;
  return st;
}

// ---------------------------------------------------------------------------------
// Drain, TLS tickets, exit

void ShardRuntime::start_drain() {
  if (draining_) return;
  draining_ = true;
  for (auto& l : listeners_) {
    stop_accepting(l.get());
    // Closing the listening sockets makes the kernel send new connections to shards
    // or processes still listening (SO_REUSEPORT) — or refuse them.
    if (l->fd >= 0) {
      close(l->fd);
      l->fd = -1;
    }
  }
  connections_.for_each([](DownstreamConn* c) { c->drain(); });
  pools_.shutdown();
  if (quotas_) {
    // Counts so far now, the rest when the drain ends (finish_exit).
    loop_.disarm_timer(&quota_flush_);
    on_quota_flush(&quota_flush_);
  }
  loop_.arm_timer(&drain_deadline_, current_->config().gateway.drain_timeout_ms);
  loop_.disarm_timer(&ticket_rotation_);
}

void ShardRuntime::on_drain_deadline(Timer* t) {
  auto* rt = static_cast<ShardRuntime*>(t->owner);
  RW_LOG(Warn, "drain timeout: closing %u connection(s) with work in progress",
         rt->connections_.size());
  rt->connections_.for_each([](DownstreamConn* c) { c->abort(); });
  // Requests still waiting on an upstream (a connect that hangs) end too.
  rt->pools_.abort_all();
}

// Installs the ticket keys of the current period and arms the next rotation.
void ShardRuntime::on_ticket_rotation(Timer* t) {
  auto* rt = static_cast<ShardRuntime*>(t->owner);
  uint64_t now = rt->loop_.now_ms();  // the same monotonic clock, read once per turn
  uint64_t period = rt->ticket_schedule_->period_at(now);
  std::vector<std::string> keys = rt->ticket_schedule_->keys_for_period(period);
  for (auto& gen : rt->generations_) {
    if (gen->tls_server_) gen->tls_server_->set_ticket_keys(keys);
  }
  RW_LOG(Debug, "session ticket keys rotated (period %llu)",
         static_cast<unsigned long long>(period));
  rt->loop_.arm_timer(&rt->ticket_rotation_, rt->ticket_schedule_->ms_until_next_period(now));
}

void ShardRuntime::run() {
  while (!finished()) loop_.run_once();
}

void ShardRuntime::finish_exit() {
  if (quotas_) {
    // The last counts, before the store thread stops (it drains its mailbox then).
    std::vector<QuotaUsage> report = quotas_->take_report();
    if (!report.empty()) {
      mailbox_.post(mailboxes_->store(),
                    QuotaUsageMessage{std::make_unique<std::vector<QuotaUsage>>(
                        std::move(report))});
    }
  }
  // Give closing upstream connections a few turns to finish their close.
  pools_.shutdown();
  loop_.arm_timer(&exit_deadline_, 1000);  // bounds the wait below
  for (int i = 0; i < 100 && pools_.connection_count() > 0; ++i) loop_.run_once();
  if (access_log_ && access_log_->dropped_lines() > 0) {
    RW_LOG(Warn, "access log: %llu line(s) dropped (access_log_buffer_bytes full)",
           static_cast<unsigned long long>(access_log_->dropped_lines()));
  }
  RW_LOG(Debug, "shard stopped: %llu connections, %llu requests",
         static_cast<unsigned long long>(downstream_stats_.connections_accepted),
         static_cast<unsigned long long>(http_stats_.requests));
  if (downstream_stats_.tls_handshakes + downstream_stats_.tls_handshake_failures > 0) {
    RW_LOG(Debug, "shard stopped: tls handshakes %llu (%llu resumed), %llu failed",
           static_cast<unsigned long long>(downstream_stats_.tls_handshakes),
           static_cast<unsigned long long>(downstream_stats_.tls_resumed_handshakes),
           static_cast<unsigned long long>(downstream_stats_.tls_handshake_failures));
  }
}

}  // namespace

Shard::Shard(ShardOptions options, std::shared_ptr<const Config> config, Mailboxes* mailboxes)
    : options_(std::move(options)), config_(std::move(config)), mailboxes_(mailboxes) {}

Shard::~Shard() {
  if (thread_.joinable()) thread_.join();
  if (event_fd_ >= 0) close(event_fd_);
}

bool Shard::prepare(std::string* error) {
  event_fd_ = eventfd(0, EFD_CLOEXEC);
  if (event_fd_ < 0) {
    *error = std::string("eventfd: ") + strerror(errno);
    return false;
  }
  mailboxes_->set_event_fd(static_cast<uint32_t>(options_.index), event_fd_);
  return true;
}

bool Shard::start(std::string* error) {
  std::promise<std::string> started;
  std::future<std::string> result = started.get_future();
  thread_ = std::thread([this, &started] { run(&started); });
  *error = result.get();
  return error->empty();
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::run(std::promise<std::string>* started) {
  set_log_thread_shard(options_.index);
  std::string name = "ringway-s" + std::to_string(options_.index);
  pthread_setname_np(pthread_self(), name.c_str());
  if (options_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(options_.cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      RW_LOG(Warn, "could not pin to CPU %d", options_.cpu);
    }
  }
  auto rt = std::make_unique<ShardRuntime>(options_, mailboxes_, event_fd_);
  std::string error;
  if (!rt->init(config_, &error)) {
    started->set_value("shard " + std::to_string(options_.index) + ": " + error);
    return;
  }
  config_.reset();  // the generations hold the configuration from here on
  started->set_value("");
  rt->run();
  rt->finish_exit();
  requests_served_ = rt->requests_served();
}

}  // namespace ringway
