#pragma once
// A client connection: the TcpConn plus the codec chosen from its first bytes
// (HTTP/2 prior-knowledge preface when enable_http2, else HTTP/1.1) or, on a TLS
// listener, from ALPN after the handshake (h2, else HTTP/1.1). Requests go to the
// listener's RequestHandlerFactory (the proxy pipeline, or the admin API). The
// connection keeps the configuration generation it was accepted under (its TLS
// context and codec limits) for its whole life. Owned by the shard's list of
// downstream connections; frees itself after the socket is closed.

#include <memory>
#include <string>

#include "config/config.h"
#include "http/downstream.h"
#include "http/server_codec.h"
#include "mem/pool.h"
#include "net/tcp_conn.h"

namespace ringway {

class DownstreamConnList;
class Loop;
class TlsServerContext;

// Counters of a shard's downstream connections (read through /metrics).
struct DownstreamStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;  // max_connections reached
  // Accepts that failed: out of descriptors (EMFILE/ENFILE), or otherwise.
  uint64_t accept_errors_descriptors = 0;
  uint64_t accept_errors_other = 0;
  uint64_t connections_shed = 0;  // out of descriptors: accepted and closed at once
  // Gauges: open connections by protocol; index kDownstreamProtocolCount counts
  // connections whose protocol is not known yet (TLS handshake, first bytes).
  int64_t connections_open[kDownstreamProtocolCount + 1] = {};
  uint64_t tls_handshakes = 0;          // completed
  uint64_t tls_resumed_handshakes = 0;  // of which resumed a session
  uint64_t tls_handshake_failures = 0;  // failed or timed out
  uint64_t send_timeouts = 0;  // closed after send_timeout_ms without write progress
};

// The configuration a connection was accepted under; kept alive (acquire/release)
// while the connection exists.
class ListenerScope {
 public:
  virtual const Config& config() const = 0;
  // The TLS context of tls_listen addresses (null without [tls]).
  virtual TlsServerContext* tls_server() const = 0;
  virtual void acquire() = 0;
  virtual void release() = 0;

 protected:
  ~ListenerScope() = default;
};

// Shard-wide things every downstream connection uses.
struct ListenerContext {
  Loop* loop = nullptr;
  int shard_index = 0;
  DownstreamConnList* connections = nullptr;
  DownstreamStats* stats = nullptr;
  HttpServerStats* http_stats = nullptr;
  MemoryBudget* memory = nullptr;  // the shard's buffer account (max_memory_bytes)
  // Refuse new requests while |memory| is over max_memory_bytes (not on the admin
  // listener: /metrics must answer when the shard is under pressure).
  bool shed_over_memory = true;
};

class DownstreamConn final : public TcpConn::Handler, public PoolAllocated<DownstreamConn> {
 public:
  // |tls|: the connection came in on a tls_listen address. |scope| is acquired for
  // the connection's life. |listener_id|: the shard's id of the listening socket it
  // was accepted on (its connections are drained when a reload removes it).
  DownstreamConn(const ListenerContext& context, ListenerScope* scope,
                 RequestHandlerFactory* handlers, uint64_t listener_id, int fd,
                 std::string client_address, bool tls);
  DownstreamConn(const DownstreamConn&) = delete;
  DownstreamConn& operator=(const DownstreamConn&) = delete;

  void start();
  // Finish what is in progress, take nothing new, close.
  void drain();
  // Closes the socket now (drain deadline passed).
  void abort();
  uint64_t listener_id() const { return listener_id_; }

  // Intrusive list links, owned by DownstreamConnList.
  DownstreamConn* prev_ = nullptr;
  DownstreamConn* next_ = nullptr;

 private:
  ~DownstreamConn();
  size_t on_recv(const char* data, size_t len) override;
  void on_recv_end(int error) override;
  void on_credit(uint32_t credit_id, uint32_t bytes) override;
  void on_send_drained() override;
  void on_before_flush() override;
  void on_send_error(int error) override;
  void on_closed() override;
  void on_tls_handshake(bool ok) override;
  void choose_codec(bool http2);
  void set_protocol_gauge(size_t index);
  static void on_sniff_timeout(Timer* timer);

  ListenerContext ctx_;
  ListenerScope* scope_;
  RequestHandlerFactory* handlers_;
  uint64_t listener_id_;
  const GatewayConfig& gateway() const { return scope_->config().gateway; }
  TcpConn tcp_;
  DownstreamInfo info_;
  std::unique_ptr<ServerCodec> codec_;
  char sniff_[24];
  size_t sniffed_ = 0;
  Timer sniff_timer_;  // the first bytes (or the TLS handshake) must arrive in time
  size_t gauge_index_ = kDownstreamProtocolCount;  // slot in stats->connections_open
  bool draining_ = false;
};

// The shard's downstream connections, for drain and shutdown.
class DownstreamConnList {
 public:
  void add(DownstreamConn* c);
  void remove(DownstreamConn* c);
  uint32_t size() const { return size_; }
  template <class F>
  void for_each(F f) {
    for (DownstreamConn* c = head_; c;) {
      DownstreamConn* next = c->next_;
      f(c);
      c = next;
    }
  }

 private:
  DownstreamConn* head_ = nullptr;
  uint32_t size_ = 0;
};

}  // namespace ringway
