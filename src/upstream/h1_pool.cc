#include "upstream/h1_pool.h"

#include <algorithm>

#include "http1/h1_client.h"
#include "proxy/exchange.h"

namespace ringway {

Http1Pool::Http1Pool(ProxyContext* ctx, const ApiConfig* api, const UpstreamTls* tls)
    : ctx_(ctx),
      api_(api),
      tls_(tls),
      backoff_(ctx->gateway->upstream_reconnect_backoff_ms,
               ctx->gateway->upstream_reconnect_backoff_max_ms) {}

void Http1Pool::on_connect_result(bool ok) {
  if (ok) {
    backoff_.on_success();
  } else {
    backoff_.on_failure(ctx_->loop->now_ms());
  }
}

Http1Pool::~Http1Pool() = default;

void Http1Pool::idle_push(Http1ClientConn* conn) {
  conn->idle_prev_ = nullptr;
  conn->idle_next_ = idle_head_;
  if (idle_head_) idle_head_->idle_prev_ = conn;
  idle_head_ = conn;
  ++idle_count_;
}

void Http1Pool::idle_remove(Http1ClientConn* conn) {
  if (conn->idle_prev_) {
    conn->idle_prev_->idle_next_ = conn->idle_next_;
  } else if (idle_head_ == conn) {
    idle_head_ = conn->idle_next_;
  } else {
    return;  // not on the list
  }
  if (conn->idle_next_) conn->idle_next_->idle_prev_ = conn->idle_prev_;
  conn->idle_prev_ = conn->idle_next_ = nullptr;
  --idle_count_;
}

void Http1Pool::request_stream(Exchange* ex) {
  if (idle_head_) {
    Http1ClientConn* conn = idle_head_;
    idle_remove(conn);
    conn->assign(ex);
    return;
  }
  if (conns_.size() < ctx_->gateway->upstream_max_connections) {
    start_connection(ex);
    return;
  }
  waiting_.push_back(ex);
}

void Http1Pool::start_connection(Exchange* waiter) {
  if (!backoff_.may_connect(ctx_->loop->now_ms())) {
    waiter->on_upstream_failed(LocalReplyCause::UpstreamUnavailable,
                               "upstream unavailable (reconnect backoff)");
    return;
  }
  auto* conn = new Http1ClientConn(ctx_, this);
  conns_.push_back(conn);
  conn->connect(api_->target.address, waiter, tls_);
}

void Http1Pool::cancel_request(Exchange* ex) {
  auto it = std::find(waiting_.begin(), waiting_.end(), ex);
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  for (Http1ClientConn* conn : conns_) conn->forget_waiter_if(ex);
}

void Http1Pool::release(Http1ClientConn* conn) {
  if (shutting_down_) {
    conn->close();
    return;
  }
  if (!waiting_.empty()) {
    Exchange* ex = waiting_.front();
    waiting_.pop_front();
    conn->assign(ex);
    return;
  }
  if (idle_count_ >= ctx_->gateway->upstream_max_idle_connections) {
    conn->close();
    return;
  }
  idle_push(conn);
}

void Http1Pool::on_conn_closing(Http1ClientConn* conn) { idle_remove(conn); }

void Http1Pool::on_conn_closed(Http1ClientConn* conn) {
  conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
  // A slot opened up: start a connection for the oldest waiter.
  if (!waiting_.empty() && !shutting_down_ &&
      conns_.size() < ctx_->gateway->upstream_max_connections) {
    Exchange* ex = waiting_.front();
    waiting_.pop_front();
    start_connection(ex);
  }
}

void Http1Pool::abort_all() {
  shutting_down_ = true;
  std::deque<Exchange*> waiting;
  waiting.swap(waiting_);
  for (Exchange* ex : waiting) {
    ex->on_upstream_failed(LocalReplyCause::ServiceUnavailable, "the gateway is shutting down");
  }
  std::vector<Http1ClientConn*> conns = conns_;  // fail() may remove from conns_
  for (Http1ClientConn* conn : conns) {
    conn->fail(LocalReplyCause::ServiceUnavailable, "the gateway is shutting down");
  }
}

void Http1Pool::shutdown() {
  shutting_down_ = true;
  while (idle_head_) {
    Http1ClientConn* conn = idle_head_;
    idle_remove(conn);
    conn->close();
  }
}

}  // namespace ringway
