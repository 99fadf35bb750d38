#pragma once
// The upstream (backend) half of a request, as the client codecs and their pools
// present it. Whoever sends a request upstream implements UpstreamCallbacks (the
// proxy pipeline's Exchange; later the plugin client) and gets an UpstreamStream
// from a pool. Neither side knows the other's concrete type.
//
// Lifetime: the stream stops calling the callbacks after on_response_end() or
// on_upstream_failed(); the caller stops calling the stream after cancel().

#include <cstdint>

#include "http/message.h"
#include "mem/slice.h"

namespace ringway {

enum class UpstreamFailure : uint8_t {
  // Connecting failed (refused, timed out, TLS handshake): nothing was sent.
  kConnectFailed,
  // No attempt was made (reconnect backoff after failures, or no capacity).
  kUnavailable,
  // The upstream certainly did not process the request: REFUSED_STREAM, a stream
  // above a GOAWAY's last-stream-id, or a connection that closed before any byte of
  // the request reached its socket. Safe to send again.
  kRefused,
  // The connection closed or was reset before the response was complete; the
  // upstream may have seen the request.
  kConnectionLost,
  // The upstream reset the stream.
  kStreamReset,
  // The response was invalid (bad HTTP/1.1, HTTP/2 protocol error, header too large).
  kProtocolError,
  // The gateway is shutting down.
  kShutdown,
};

struct UpstreamError {
  UpstreamFailure kind = UpstreamFailure::kConnectionLost;
  const char* message = "";  // static text, for logs and local replies
  // The connection had carried an earlier request (an HTTP/1.1 keep-alive
  // connection being reused): a loss before any response byte is then most likely
  // the upstream closing an idle connection as it was reused.
  bool reused_connection = false;
  // Some of the response had been received when it failed.
  bool response_started = false;
};

// The upstream's side of one request: how the caller sends it.
class UpstreamStream {
 public:
  // Sends the request head; |end_stream| when there is no body.
  virtual void send_request_head(const RequestHead& head, bool end_stream) = 0;
  // Body bytes; when they leave the socket the stream calls
  // UpstreamCallbacks::on_request_bytes_sent().
  virtual void send_request_data(Slice data) = 0;
  virtual void send_request_end(const HeaderList* trailers) = 0;
  // |bytes| of response body were used up: HTTP/2 re-opens the window.
  virtual void consume_response_bytes(uint32_t bytes) = 0;
  // HTTP/1.1 back-pressure on the response; HTTP/2 relies on its window.
  virtual void pause_response() = 0;
  virtual void resume_response() = 0;
  // The caller gives up on this stream (client went away, timeout): HTTP/2 sends
  // RST_STREAM(CANCEL); HTTP/1.1 closes the connection. No callbacks follow.
  virtual void cancel() = 0;

 protected:
  ~UpstreamStream() = default;
};

// What a pool and its stream call for one request sent upstream.
class UpstreamCallbacks {
 public:
  // A stream is ready for the request (send its head now).
  virtual void on_upstream_ready(UpstreamStream* stream) = 0;
  // Connecting or the stream failed; no more callbacks follow.
  virtual void on_upstream_failed(const UpstreamError& error) = 0;
  virtual void on_response_head(ResponseHead& head, bool end_stream) = 0;
  virtual void on_response_data(Slice data) = 0;
  virtual void on_response_end(const HeaderList* trailers) = 0;
  // Request bytes reached the upstream's socket.
  virtual void on_request_bytes_sent(uint32_t bytes) = 0;

 protected:
  ~UpstreamCallbacks() = default;
};

}  // namespace ringway

namespace ringway {

class Loop;
class Timers;
struct MemoryBudget;

// Limits of the connections to one upstream, copied from the configuration into the
// pool that owns them (a pool can outlive the configuration it was made from).
struct UpstreamLimits {
  uint32_t connect_timeout_ms = 3000;  // covers the TLS handshake and, for HTTP/2,
                                       // the wait for the peer's first SETTINGS
  uint32_t idle_timeout_ms = 60000;    // an unused pooled connection is closed
  uint32_t max_header_bytes = 65536;   // response head (and trailers)
  uint32_t stream_buffer_bytes = 1048576;       // HTTP/2 stream window
  uint32_t connection_window_bytes = 16777216;  // HTTP/2 connection window
  uint32_t send_queue_bytes = 1048576;  // output held back (and input too) above this
  uint32_t send_timeout_ms = 60000;     // output waiting without progress: closed
  uint32_t http2_max_glitches = 1000;   // misbehaviour budget (GlitchBudget)
  uint32_t http2_glitch_refill_per_s = 100;
  bool operator==(const UpstreamLimits&) const = default;
};

// Counters of one pool's connections (per shard and API; read through /metrics).
struct UpstreamConnStats {
  uint64_t connects = 0;          // connections established (TCP and, if any, TLS)
  uint64_t connect_failures = 0;  // refused, timed out or TLS failures
  uint64_t goaways = 0;           // GOAWAYs received (HTTP/2)
  int64_t connections_open = 0;   // gauge: connecting or connected
  uint64_t sends = 0;             // HTTP/2: loop turns that sent something (batches)
};

// What a client connection needs from its pool's side.
struct ClientCodecContext {
  Loop* loop = nullptr;      // the connection's socket runs on it
  Timers* timers = nullptr;  // the codec's timeouts (the same loop)
  const UpstreamLimits* limits = nullptr;
  UpstreamConnStats* stats = nullptr;
  MemoryBudget* memory = nullptr;  // the shard's buffer account (may be null)
};

}  // namespace ringway
