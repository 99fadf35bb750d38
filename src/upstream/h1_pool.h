#pragma once
// Per-shard HTTP/1.1 keep-alive pool for one API's target. Idle connections are
// reused most-recently-used first; at most upstream_max_connections exist (beyond
// that requests wait in a FIFO), and at most upstream_max_idle_connections stay idle.

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "http1/h1_client.h"
#include "upstream/pool.h"
#include "upstream/reconnect_backoff.h"

namespace ringway {

class UpstreamTls;

class Http1Pool final : public UpstreamPool, private Http1ClientConn::Owner {
 public:
  // |tls|: null for cleartext targets.
  Http1Pool(Loop* loop, UpstreamSettings settings, UpstreamConnStats* stats,
            std::unique_ptr<UpstreamTls> tls);
  ~Http1Pool() override;

  void request_stream(UpstreamCallbacks* callbacks) override;
  void request_stream_avoiding_idle(UpstreamCallbacks* callbacks) override;
  void cancel_request(UpstreamCallbacks* callbacks) override;
  void shutdown() override;
  void abort_all() override;
  uint32_t connection_count() const override { return static_cast<uint32_t>(conns_.size()); }

 private:
  // Http1ClientConn::Owner
  void on_connect_result(bool ok) override;
  void release(Http1ClientConn* conn) override;
  void on_conn_closing(Http1ClientConn* conn) override;
  void on_conn_closed(Http1ClientConn* conn) override;

  void start_connection(UpstreamCallbacks* waiter);
  void idle_push(Http1ClientConn* conn);
  void idle_remove(Http1ClientConn* conn);

  std::unique_ptr<UpstreamTls> tls_;
  std::vector<Http1ClientConn*> conns_;   // every connection, any state
  Http1ClientConn* idle_head_ = nullptr;  // most recently used first
  uint32_t idle_count_ = 0;
  std::deque<UpstreamCallbacks*> waiting_;  // no connection available and at the limit
  bool shutting_down_ = false;  // keep no idle connections
  bool aborted_ = false;        // take no work at all
  ReconnectBackoff backoff_;
};

}  // namespace ringway
