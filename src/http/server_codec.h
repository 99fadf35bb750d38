#pragma once
// The protocol half of a downstream connection (HTTP/1.1 or HTTP/2), chosen by the
// connection from its first bytes or from ALPN. It receives the connection's events and
// hands each request to a handler from the connection's RequestHandlerFactory.

#include <cstddef>
#include <cstdint>

#include "http/downstream.h"
#include "http/local_reply.h"

namespace ringway {

class ByteSink;
class Timers;
struct MemoryBudget;
struct GatewayConfig;

// Counters the server codecs keep (per shard; read through /metrics).
struct HttpServerStats {
  uint64_t requests = 0;            // request heads handed to a handler
  uint64_t malformed_requests = 0;  // unparseable input (the connection is closed)
  LocalReplyCounts local_replies;   // replies made by the codec or a handler
  uint64_t memory_refused = 0;      // requests refused at max_memory_bytes
  // HTTP/2 misbehaviour: glitches counted, and connections ended for them with
  // GOAWAY(ENHANCE_YOUR_CALM); connections ended for an unacknowledged SETTINGS or
  // a header block that did not end in time.
  uint64_t http2_glitches = 0;
  uint64_t http2_calm_goaways = 0;
  uint64_t http2_settings_timeouts = 0;
  uint64_t http2_header_timeouts = 0;
  uint64_t http2_stream_send_timeouts = 0;  // streams reset: no window for send_timeout_ms
};

// Everything a server codec needs from its connection, owned by the connection.
struct ServerCodecContext {
  Timers* timers = nullptr;  // the shard's loop
  ByteSink* out = nullptr;   // the connection (a TcpConn)
  const GatewayConfig* limits = nullptr;  // timeouts, header and stream limits
  RequestHandlerFactory* handlers = nullptr;
  const DownstreamInfo* info = nullptr;
  HttpServerStats* stats = nullptr;
  // New requests are refused (503 / UNAVAILABLE) while this is over max_memory_bytes;
  // null: always admitted.
  const MemoryBudget* admission = nullptr;
  // Charged with response bytes a codec holds for the client (HTTP/2 streams waiting
  // for flow-control window); may be null.
  MemoryBudget* memory = nullptr;
};

class ServerCodec {
 public:
  virtual ~ServerCodec() = default;
  virtual size_t on_recv(const char* data, size_t len) = 0;
  virtual void on_recv_end(int error) = 0;
  virtual void on_credit(uint32_t credit_id, uint32_t bytes) = 0;
  virtual void on_before_flush() {}
  virtual void on_send_drained() {}
  // Graceful shutdown: finish what is in progress, accept nothing new, then close.
  virtual void drain() = 0;
  // The connection is closing or closed: detach every handler (they see a reset).
  virtual void on_connection_closing() = 0;
};

}  // namespace ringway
