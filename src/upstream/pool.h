#pragma once
// Per-shard connection pools. A pool serves one API's upstream and hands out
// UpstreamStreams to whoever sends requests there (the proxy pipeline; later the
// plugin client): an idle keep-alive HTTP/1.1 connection, or a stream on an HTTP/2
// connection with room under the peer's MAX_CONCURRENT_STREAMS; otherwise it connects
// (bounded by upstream_max_connections) and keeps the request waiting.
//
// UpstreamPools owns a shard's pools across configuration generations: a generation
// acquires the pool for each API; equal settings give back the existing pool (its
// connections survive a reload); pools no generation holds any more are retired —
// idle connections close at once, the others when their requests end — and freed
// when their last connection is gone.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/upstream.h"
#include "io/loop.h"
#include "upstream/upstream_settings.h"

namespace ringway {

class Loop;
class TlsClientContext;

class UpstreamPool {
 public:
  virtual ~UpstreamPool() = default;
  // Calls callbacks->on_upstream_ready() or ->on_upstream_failed(), now or later.
  virtual void request_stream(UpstreamCallbacks* callbacks) = 0;
  // The same, never on a connection that sat idle: for a request sent again after an
  // idle keep-alive connection turned out closed (its idle neighbours may be too, as
  // when the upstream's keep-alive timeout is shorter than ours). HTTP/2 pools have
  // no such connections and treat it as request_stream().
  virtual void request_stream_avoiding_idle(UpstreamCallbacks* callbacks) {
    request_stream(callbacks);
  }
  // The caller no longer waits (client went away).
  virtual void cancel_request(UpstreamCallbacks* callbacks) = 0;
  // No new work: close idle connections now, the rest when their streams finish.
  virtual void shutdown() = 0;
  // Close every connection (connecting ones too) and fail every request still
  // waiting or streaming (the shard is stopping).
  virtual void abort_all() = 0;
  virtual uint32_t connection_count() const = 0;
  const UpstreamSettings& settings() const { return settings_; }
  // The shard's buffer account, charged by the pool's connections.
  void set_memory_budget(MemoryBudget* memory) { memory_ = memory; }

 protected:
  UpstreamPool(Loop* loop, UpstreamSettings settings, UpstreamConnStats* stats)
      : loop_(loop), settings_(std::move(settings)), stats_(stats) {}
  ClientCodecContext codec_context() const {
    return ClientCodecContext{loop_, loop_, &settings_.limits, stats_, memory_};
  }

  Loop* loop_;
  const UpstreamSettings settings_;
  UpstreamConnStats* stats_;
  MemoryBudget* memory_ = nullptr;
};

class UpstreamPools {
 public:
  explicit UpstreamPools(Loop* loop, MemoryBudget* memory = nullptr)
      : loop_(loop), memory_(memory) {}
  ~UpstreamPools();
  UpstreamPools(const UpstreamPools&) = delete;
  UpstreamPools& operator=(const UpstreamPools&) = delete;

  // The pool for |settings| (an existing one with equal settings, else a new one
  // counting into |stats|). Null with |error| set when TLS files cannot be loaded.
  std::shared_ptr<UpstreamPool> acquire(const UpstreamSettings& settings,
                                        UpstreamConnStats* stats, std::string* error);
  // Retires pools nobody holds any more and frees retired pools with no
  // connections left. Returns true while retired pools still have connections.
  bool collect();
  // Shard stopping: every pool stops taking work (idle connections close).
  void shutdown();
  // Drain deadline passed: every connection closes, every request fails.
  void abort_all();
  uint32_t connection_count() const;
  size_t pool_count() const { return active_.size() + retired_.size(); }

 private:
  Loop* loop_;
  MemoryBudget* memory_;
  std::map<std::string, std::shared_ptr<UpstreamPool>> active_;  // by settings key
  std::vector<std::shared_ptr<UpstreamPool>> retired_;
  // One client context per distinct TLS setting (APIs with equal ones share it).
  std::map<std::string, std::weak_ptr<TlsClientContext>> tls_contexts_;
  bool shut_down_ = false;
};

}  // namespace ringway
