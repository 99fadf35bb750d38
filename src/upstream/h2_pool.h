#pragma once
// Per-shard HTTP/2 pool for one API's target (h2c, or h2 over TLS): streams go to the
// first connection with room under the peer's MAX_CONCURRENT_STREAMS; a new
// connection opens when all are full (up to upstream_max_connections; beyond that
// requests wait in a FIFO).

#include <deque>
#include <memory>
#include <vector>

#include "http2/h2_client.h"
#include "upstream/pool.h"
#include "upstream/reconnect_backoff.h"

namespace ringway {

class UpstreamTls;

class Http2Pool final : public UpstreamPool, private Http2ClientConn::Owner {
 public:
  // |tls|: null for cleartext targets.
  Http2Pool(Loop* loop, UpstreamSettings settings, UpstreamConnStats* stats,
            std::unique_ptr<UpstreamTls> tls);
  ~Http2Pool() override;

  void request_stream(UpstreamCallbacks* callbacks) override;
  void cancel_request(UpstreamCallbacks* callbacks) override;
  void shutdown() override;
  void abort_all() override;
  uint32_t connection_count() const override {
    return static_cast<uint32_t>(conns_.size() + retired_.size());
  }

 private:
  // Http2ClientConn::Owner
  void on_connect_result(bool ok) override;
  uint32_t peer_stream_limit() const override { return peer_stream_limit_; }
  void on_peer_stream_limit(uint32_t limit) override { peer_stream_limit_ = limit ? limit : 1; }
  void on_capacity() override;
  void on_conn_unavailable(Http2ClientConn* conn) override;
  void on_conn_closed(Http2ClientConn* conn) override;

  std::unique_ptr<UpstreamTls> tls_;
  std::vector<Http2ClientConn*> conns_;    // connections that may take streams
  std::vector<Http2ClientConn*> retired_;  // finishing their streams
  std::deque<UpstreamCallbacks*> waiting_;
  bool shutting_down_ = false;  // connections close once their streams end
  bool aborted_ = false;        // take no work at all
  ReconnectBackoff backoff_;
  uint32_t peer_stream_limit_ = 100;  // RFC 9113 recommends peers allow at least 100
};

}  // namespace ringway
