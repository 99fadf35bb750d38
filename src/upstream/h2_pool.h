#pragma once
// Per-shard HTTP/2 pool for one API's h2c target: streams go to the first connection
// with room under the peer's MAX_CONCURRENT_STREAMS; a new connection opens when all
// are full (up to upstream_max_connections; beyond that requests wait in a FIFO).

#include <deque>
#include <vector>

#include "config/config.h"
#include "upstream/pool.h"
#include "upstream/reconnect_backoff.h"

namespace ringway {

class UpstreamTls;

class Http2ClientConn;

class Http2Pool : public UpstreamPool {
 public:
  // |tls|: null for cleartext targets; else owned by UpstreamPools.
  Http2Pool(ProxyContext* ctx, const ApiConfig* api, const UpstreamTls* tls);
  ~Http2Pool() override;

  void request_stream(Exchange* ex) override;
  void cancel_request(Exchange* ex) override;
  void shutdown() override;
  void abort_all() override;
  // A connection attempt finished: failures delay the next attempt (backoff).
  void on_connect_result(bool ok);
  uint32_t connection_count() const override {
    return static_cast<uint32_t>(conns_.size() + retired_.size());
  }

  // A stream finished or the peer raised its limit: waiting exchanges may fit now.
  void on_capacity();
  // The upstream's SETTINGS_MAX_CONCURRENT_STREAMS, as last advertised on any of our
  // connections: new connections assume it until their own SETTINGS arrive.
  void on_peer_stream_limit(uint32_t limit) { peer_stream_limit_ = limit ? limit : 1; }
  uint32_t peer_stream_limit() const { return peer_stream_limit_; }
  // The connection takes no new streams (GOAWAY, closing).
  void on_conn_unavailable(Http2ClientConn* conn);
  void on_conn_closed(Http2ClientConn* conn);

 private:
  ProxyContext* ctx_;
  const ApiConfig* api_;
  const UpstreamTls* tls_;
  std::vector<Http2ClientConn*> conns_;  // connections that may take streams
  std::vector<Http2ClientConn*> retired_;  // finishing their streams
  std::deque<Exchange*> waiting_;
  bool shutting_down_ = false;
  ReconnectBackoff backoff_;
  uint32_t peer_stream_limit_ = 100;  // RFC 9113 recommends peers allow at least 100
};

}  // namespace ringway
