#include "upstream/h2_pool.h"

#include <algorithm>

#include "http2/h2_client.h"
#include "proxy/exchange.h"

namespace ringway {

Http2Pool::Http2Pool(ProxyContext* ctx, const ApiConfig* api, const UpstreamTls* tls)
    : ctx_(ctx),
      api_(api),
      tls_(tls),
      backoff_(ctx->gateway->upstream_reconnect_backoff_ms,
               ctx->gateway->upstream_reconnect_backoff_max_ms) {}

void Http2Pool::on_connect_result(bool ok) {
  if (ok) {
    backoff_.on_success();
  } else {
    backoff_.on_failure(ctx_->loop->now_ms());
  }
}

Http2Pool::~Http2Pool() = default;

void Http2Pool::request_stream(Exchange* ex) {
  for (Http2ClientConn* conn : conns_) {
    if (conn->has_capacity()) {
      conn->add_exchange(ex);
      return;
    }
  }
  if (conns_.size() + retired_.size() < ctx_->gateway->upstream_max_connections) {
    if (!backoff_.may_connect(ctx_->loop->now_ms())) {
      ex->on_upstream_failed(LocalReplyCause::UpstreamUnavailable,
                             "upstream unavailable (reconnect backoff)");
      return;
    }
    auto* conn = new Http2ClientConn(ctx_, this);
    conns_.push_back(conn);
    conn->add_exchange(ex);
    conn->connect(api_->target.address, tls_);
    return;
  }
  waiting_.push_back(ex);
}

void Http2Pool::cancel_request(Exchange* ex) {
  auto it = std::find(waiting_.begin(), waiting_.end(), ex);
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  for (Http2ClientConn* conn : conns_) {
    if (conn->forget_pending(ex)) return;
  }
}

void Http2Pool::on_capacity() {
  while (!waiting_.empty() && !shutting_down_) {
    Http2ClientConn* target = nullptr;
    for (Http2ClientConn* conn : conns_) {
      if (conn->has_capacity()) {
        target = conn;
        break;
      }
    }
    if (!target) return;
    Exchange* ex = waiting_.front();
    waiting_.pop_front();
    target->add_exchange(ex);
  }
}

void Http2Pool::on_conn_unavailable(Http2ClientConn* conn) {
  auto it = std::find(conns_.begin(), conns_.end(), conn);
  if (it == conns_.end()) return;
  conns_.erase(it);
  retired_.push_back(conn);
  // Waiting exchanges may now need a new connection.
  if (!waiting_.empty() && !shutting_down_ &&
      conns_.size() + retired_.size() < ctx_->gateway->upstream_max_connections) {
    Exchange* ex = waiting_.front();
    waiting_.pop_front();
    request_stream(ex);
  }
}

void Http2Pool::on_conn_closed(Http2ClientConn* conn) {
  conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
  retired_.erase(std::remove(retired_.begin(), retired_.end(), conn), retired_.end());
  if (!waiting_.empty() && !shutting_down_) {
    Exchange* ex = waiting_.front();
    waiting_.pop_front();
    request_stream(ex);
  }
}

void Http2Pool::abort_all() {
  shutting_down_ = true;
  std::deque<Exchange*> waiting;
  waiting.swap(waiting_);
  for (Exchange* ex : waiting) {
    ex->on_upstream_failed(LocalReplyCause::ServiceUnavailable, "the gateway is shutting down");
  }
  std::vector<Http2ClientConn*> conns = conns_;
  for (Http2ClientConn* conn : conns) {
    conn->fail_all(LocalReplyCause::ServiceUnavailable, "the gateway is shutting down");
  }
}

void Http2Pool::shutdown() {
  shutting_down_ = true;
  std::vector<Http2ClientConn*> conns = conns_;
  for (Http2ClientConn* conn : conns) conn->shutdown();
}

}  // namespace ringway
