#include "upstream/h2_pool.h"

#include <algorithm>

#include "io/loop.h"
#include "upstream/upstream_tls.h"

namespace ringway {

Http2Pool::Http2Pool(Loop* loop, UpstreamSettings settings, UpstreamConnStats* stats,
                     std::unique_ptr<UpstreamTls> tls)
    : UpstreamPool(loop, std::move(settings), stats),
      tls_(std::move(tls)),
      backoff_(settings_.reconnect_backoff_ms, settings_.reconnect_backoff_max_ms) {}

Http2Pool::~Http2Pool() = default;

void Http2Pool::on_connect_result(bool ok) {
  if (ok) {
    backoff_.on_success();
  } else {
    backoff_.on_failure(loop_->now_ms());
  }
}

void Http2Pool::request_stream(UpstreamCallbacks* callbacks) {
  if (aborted_) {
    callbacks->on_upstream_failed(
        UpstreamError{UpstreamFailure::kShutdown, "the gateway is shutting down"});
    return;
  }
  for (Http2ClientConn* conn : conns_) {
    if (conn->has_capacity()) {
      conn->add_request(callbacks);
      return;
    }
  }
  if (conns_.size() + retired_.size() < settings_.max_connections) {
    if (!backoff_.may_connect(loop_->now_ms())) {
      callbacks->on_upstream_failed(UpstreamError{UpstreamFailure::kUnavailable,
                                                  "upstream unavailable (reconnect backoff)"});
      return;
    }
    auto* conn = new Http2ClientConn(codec_context(), this);
    conns_.push_back(conn);
    conn->add_request(callbacks);
    if (tls_) tls_->attach(conn->tcp(), settings_.buffer_size);
    conn->connect(settings_.target.address);
    // A pool that stopped taking new connections still serves in-flight work; the
    // connection closes once its streams end.
    if (shutting_down_) conn->shutdown();
    return;
  }
  waiting_.push_back(callbacks);
}

void Http2Pool::cancel_request(UpstreamCallbacks* callbacks) {
  auto it = std::find(waiting_.begin(), waiting_.end(), callbacks);
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  for (Http2ClientConn* conn : conns_) {
    if (conn->forget_pending(callbacks)) return;
  }
  for (Http2ClientConn* conn : retired_) {
    if (conn->forget_pending(callbacks)) return;
  }
}

void Http2Pool::on_capacity() {
  while (!waiting_.empty() && !aborted_) {
    Http2ClientConn* target = nullptr;
    for (Http2ClientConn* conn : conns_) {
      if (conn->has_capacity()) {
        target = conn;
        break;
      }
    }
    if (!target) return;
    UpstreamCallbacks* callbacks = waiting_.front();
    waiting_.pop_front();
    target->add_request(callbacks);
  }
}

void Http2Pool::on_conn_unavailable(Http2ClientConn* conn) {
  auto it = std::find(conns_.begin(), conns_.end(), conn);
  if (it == conns_.end()) return;
  conns_.erase(it);
  retired_.push_back(conn);
  // Waiting requests may now need a new connection.
  if (!waiting_.empty() && !aborted_ &&
      conns_.size() + retired_.size() < settings_.max_connections) {
    UpstreamCallbacks* callbacks = waiting_.front();
    waiting_.pop_front();
    request_stream(callbacks);
  }
}

void Http2Pool::on_conn_closed(Http2ClientConn* conn) {
  conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
  retired_.erase(std::remove(retired_.begin(), retired_.end(), conn), retired_.end());
  if (!waiting_.empty() && !aborted_) {
    UpstreamCallbacks* callbacks = waiting_.front();
    waiting_.pop_front();
    request_stream(callbacks);
  }
}

void Http2Pool::abort_all() {
  shutting_down_ = true;
  aborted_ = true;
  std::deque<UpstreamCallbacks*> waiting;
  waiting.swap(waiting_);
  const UpstreamError error{UpstreamFailure::kShutdown, "the gateway is shutting down"};
  for (UpstreamCallbacks* callbacks : waiting) callbacks->on_upstream_failed(error);
  std::vector<Http2ClientConn*> conns = conns_;
  conns.insert(conns.end(), retired_.begin(), retired_.end());
  for (Http2ClientConn* conn : conns) conn->fail_all(error);
}

void Http2Pool::shutdown() {
  shutting_down_ = true;
  std::vector<Http2ClientConn*> conns = conns_;
  for (Http2ClientConn* conn : conns) conn->shutdown();
}

}  // namespace ringway
