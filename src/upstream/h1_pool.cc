#include "upstream/h1_pool.h"

#include <algorithm>

#include "io/loop.h"
#include "upstream/upstream_tls.h"

namespace ringway {

Http1Pool::Http1Pool(Loop* loop, UpstreamSettings settings, UpstreamConnStats* stats,
                     std::unique_ptr<UpstreamTls> tls)
    : UpstreamPool(loop, std::move(settings), stats),
      tls_(std::move(tls)),
      backoff_(settings_.reconnect_backoff_ms, settings_.reconnect_backoff_max_ms) {}

Http1Pool::~Http1Pool() = default;

void Http1Pool::on_connect_result(bool ok) {
  if (ok) {
    backoff_.on_success();
  } else {
    backoff_.on_failure(loop_->now_ms());
  }
}

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

void Http1Pool::request_stream(UpstreamCallbacks* callbacks) {
  if (aborted_) {
    callbacks->on_upstream_failed(
        UpstreamError{UpstreamFailure::kShutdown, "the gateway is shutting down"});
    return;
  }
  if (idle_head_) {
    Http1ClientConn* conn = idle_head_;
    idle_remove(conn);
    conn->assign(callbacks);
    return;
  }
  if (conns_.size() < settings_.max_connections) {
    start_connection(callbacks);
    return;
  }
  waiting_.push_back(callbacks);
}

void Http1Pool::request_stream_avoiding_idle(UpstreamCallbacks* callbacks) {
  if (aborted_) {
    callbacks->on_upstream_failed(
        UpstreamError{UpstreamFailure::kShutdown, "the gateway is shutting down"});
    return;
  }
  // A new connection, or the next one a finished request hands back (it was busy,
  // not idle, a moment ago).
  if (conns_.size() < settings_.max_connections) {
    start_connection(callbacks);
    return;
  }
  waiting_.push_back(callbacks);
  // At the limit with idle connections about: closing one makes room for a new one
  // (on_conn_closed starts it for the oldest waiter).
  if (idle_head_) {
    Http1ClientConn* conn = idle_head_;
    idle_remove(conn);
    conn->close();
  }
}

void Http1Pool::start_connection(UpstreamCallbacks* waiter) {
  if (!backoff_.may_connect(loop_->now_ms())) {
    waiter->on_upstream_failed(UpstreamError{UpstreamFailure::kUnavailable,
                                             "upstream unavailable (reconnect backoff)"});
    return;
  }
  auto* conn = new Http1ClientConn(codec_context(), this);
  conns_.push_back(conn);
  if (tls_) tls_->attach(conn->tcp(), settings_.buffer_size);
  conn->connect(settings_.target.address, waiter);
}

void Http1Pool::cancel_request(UpstreamCallbacks* callbacks) {
  auto it = std::find(waiting_.begin(), waiting_.end(), callbacks);
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  for (Http1ClientConn* conn : conns_) conn->forget_waiter_if(callbacks);
}

void Http1Pool::release(Http1ClientConn* conn) {
  if (!waiting_.empty() && !aborted_) {
    UpstreamCallbacks* callbacks = waiting_.front();
    waiting_.pop_front();
    conn->assign(callbacks);
    return;
  }
  if (shutting_down_ || idle_count_ >= settings_.max_idle_connections) {
    conn->close();
    return;
  }
  idle_push(conn);
}

void Http1Pool::on_conn_closing(Http1ClientConn* conn) { idle_remove(conn); }

void Http1Pool::on_conn_closed(Http1ClientConn* conn) {
  conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
  // A slot opened up: start a connection for the oldest waiter.
  if (!waiting_.empty() && !aborted_ && conns_.size() < settings_.max_connections) {
    UpstreamCallbacks* callbacks = waiting_.front();
    waiting_.pop_front();
    start_connection(callbacks);
  }
}

void Http1Pool::abort_all() {
  shutting_down_ = true;
  aborted_ = true;
  std::deque<UpstreamCallbacks*> waiting;
  waiting.swap(waiting_);
  const UpstreamError error{UpstreamFailure::kShutdown, "the gateway is shutting down"};
  for (UpstreamCallbacks* callbacks : waiting) callbacks->on_upstream_failed(error);
  std::vector<Http1ClientConn*> conns = conns_;  // fail() may remove from conns_
  for (Http1ClientConn* conn : conns) conn->fail(error);
}

void Http1Pool::shutdown() {
  shutting_down_ = true;
  // Idle connections close now; busy ones close when their request ends, unless a
  // request is waiting for one (in-flight work is still served).
  while (idle_head_) {
    Http1ClientConn* conn = idle_head_;
    idle_remove(conn);
    conn->close();
  }
}

}  // namespace ringway
