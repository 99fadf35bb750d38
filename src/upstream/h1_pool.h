#pragma once
// Per-shard HTTP/1.1 keep-alive pool for one API's target. Idle connections are
// reused most-recently-used first; at most upstream_max_connections exist (beyond
// that requests wait in a FIFO), and at most upstream_max_idle_connections stay idle.

#include <cstdint>
#include <deque>
#include <vector>

#include "config/config.h"
#include "upstream/pool.h"
#include "upstream/reconnect_backoff.h"

namespace ringway {

class UpstreamTls;

class Http1ClientConn;

class Http1Pool : public UpstreamPool {
 public:
  // |tls|: null for cleartext targets; else owned by UpstreamPools.
  Http1Pool(ProxyContext* ctx, const ApiConfig* api, const UpstreamTls* tls);
  ~Http1Pool() override;

  void request_stream(Exchange* ex) override;
  void cancel_request(Exchange* ex) override;
  void shutdown() override;
  void abort_all() override;
  // A connection attempt finished: failures delay the next attempt (backoff).
  void on_connect_result(bool ok);
  uint32_t connection_count() const override { return static_cast<uint32_t>(conns_.size()); }

  // From connections.
  void release(Http1ClientConn* conn);        // became idle
  void on_conn_closing(Http1ClientConn* conn);  // leaves the idle list, no new work
  void on_conn_closed(Http1ClientConn* conn);   // freed right after this call

 private:
  void start_connection(Exchange* waiter);
  void idle_push(Http1ClientConn* conn);
  void idle_remove(Http1ClientConn* conn);

  ProxyContext* ctx_;
  const ApiConfig* api_;
  const UpstreamTls* tls_;
  std::vector<Http1ClientConn*> conns_;  // every connection, any state
  Http1ClientConn* idle_head_ = nullptr; // most recently used first
  uint32_t idle_count_ = 0;
  std::deque<Exchange*> waiting_;        // no connection available and at the limit
  bool shutting_down_ = false;
  ReconnectBackoff backoff_;
};

}  // namespace ringway
