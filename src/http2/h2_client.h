#pragma once
// HTTP/2 cleartext (prior knowledge) client connection to an upstream, multiplexing
// many requests' streams. Same flow-control policy as the server side: the
// connection window is consumed on receipt, a stream's window only when its bytes
// reached the client, so a slow client slows its upstream stream and nothing else.

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "config/config.h"
#include "http/upstream.h"
#include "http2/h2_common.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"
#include "net/tcp_conn.h"

namespace ringway {

class Http2ClientConn;

class Http2ClientStream final : public UpstreamStream, public PoolAllocated<Http2ClientStream> {
 public:
  Http2ClientStream(Http2ClientConn* conn, UpstreamCallbacks* callbacks)
      : conn_(conn), callbacks_(callbacks) {}

  void send_request_head(const RequestHead& head, bool end_stream) override;
  void send_request_data(Slice data) override;
  void send_request_end(const HeaderList* trailers) override;
  void consume_response_bytes(uint32_t bytes) override;
  void pause_response() override {}
  void resume_response() override {}
  void cancel() override;

  Http2ClientConn* conn_;
  UpstreamCallbacks* callbacks_;
  int32_t id_ = -1;
  ResponseHead response_;
  HeaderList trailers_;
  bool head_delivered_ = false;
  bool header_overflow_ = false;  // the response head was over max_header_bytes
  size_t header_bytes_ = 0;
  OutboundBody body_;
  Http2ClientStream* prev_ = nullptr;
  Http2ClientStream* next_ = nullptr;
};

// Multiplexes many requests' streams on one HTTP/2 connection (h2c, or h2 over TLS).
class Http2ClientConn final : public TcpConn::Handler, public PoolAllocated<Http2ClientConn> {
 public:
  class Owner {
   public:
    // A connection attempt finished (failures delay the next one).
    virtual void on_connect_result(bool ok) = 0;
    // The upstream's SETTINGS_MAX_CONCURRENT_STREAMS as last seen on any connection
    // to it (assumed by new connections until their own SETTINGS arrive).
    virtual uint32_t peer_stream_limit() const = 0;
    virtual void on_peer_stream_limit(uint32_t limit) = 0;
    // A stream finished or the peer raised its limit: waiting requests may fit now.
    virtual void on_capacity() = 0;
    // The connection takes no new streams (GOAWAY, closing).
    virtual void on_conn_unavailable(Http2ClientConn* conn) = 0;
    // The connection is gone; it is freed right after this call.
    virtual void on_conn_closed(Http2ClientConn* conn) = 0;
    // Places a request this connection cannot take after all (its SETTINGS allowed
    // fewer streams than assumed).
    virtual void request_stream(UpstreamCallbacks* callbacks) = 0;

   protected:
    ~Owner() = default;
  };

  Http2ClientConn(const ClientCodecContext& context, Owner* owner);
  Http2ClientConn(const Http2ClientConn&) = delete;
  Http2ClientConn& operator=(const Http2ClientConn&) = delete;

  // For use_tls() before connect() (ALPN h2 is then required; the connect timeout
  // covers the handshake too).
  TcpConn& tcp() { return tcp_; }
  // Drives the codec over |sink| instead of its socket (unit tests and fuzz targets):
  // call right after construction instead of connect(), then report on_connected(0)
  // through the TcpConn::Handler interface and feed input with on_recv().
  void attach_sink(ByteSink* sink) { out_ = sink; }
  void connect(const SockAddr& address);
  // True when one more stream may be opened here now or once connected.
  bool has_capacity() const;
  // Opens a stream for |callbacks| now, or once the connection is up.
  void add_request(UpstreamCallbacks* callbacks);
  bool forget_pending(UpstreamCallbacks* callbacks);
  // Drain: no new streams; close once the open ones finish.
  void shutdown();
  // Fails every request (pending and streaming) and closes the connection.
  void fail_all(const UpstreamError& error);

  nghttp2_session* session() { return session_; }
  void request_flush() { out_->request_flush(); }

 private:
  friend class Http2ClientStream;
  enum class State : uint8_t { Connecting, Ready, Closing };

  ~Http2ClientConn();
  size_t on_recv(const char* data, size_t len) override;
  void on_recv_end(int error) override;
  void on_credit(uint32_t credit_id, uint32_t bytes) override;
  void on_before_flush() override;
  void on_send_error(int error) override;
  void on_connected(int error) override;
  void on_closed() override;

  // Header fields arrive as rcbufs: regular fields are kept by reference, not copied.
  static int cb_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name_rc,
                       nghttp2_rcbuf* value_rc, uint8_t flags, void* user_data);
  static int cb_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int cb_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data);
  static int cb_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int error,
                                   void* user_data);
  // One glitch from the upstream; false (GOAWAY(ENHANCE_YOUR_CALM) queued) when the
  // budget is spent: the connection then fails its streams (502) and closes.
  bool glitch();
  static int cb_data_chunk_recv(nghttp2_session*, uint8_t flags, int32_t stream_id,
                                const uint8_t* data, size_t len, void* user_data);
  static int cb_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* user_data);
  static int cb_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                          size_t length, nghttp2_data_source* source, void* user_data);
  static void on_timer(Timer* timer);

  void open_stream(UpstreamCallbacks* callbacks);
  // True when |streams| open streams leave room for one more under the peer's limit.
  bool room_for_streams(size_t streams) const;
  // The peer's first SETTINGS arrived: open the waiting requests' streams (those
  // beyond its limit go back to the pool).
  void open_pending();
  void remove_stream(Http2ClientStream* stream);
  void close();
  void update_timer();

  ClientCodecContext ctx_;
  Owner* owner_;
  TcpConn tcp_;
  ByteSink* out_ = &tcp_;  // where output goes: the socket, or attach_sink()'s
  nghttp2_session* session_ = nullptr;
  State state_ = State::Connecting;
  bool goaway_ = false;   // peer sent GOAWAY or we are draining: no new streams
  bool goaway_received_ = false;
  int32_t goaway_last_stream_id_ = 0;  // streams above it were not processed
  bool settings_received_ = false;  // the peer's first SETTINGS frame arrived
  bool close_after_pump_ = false;   // draining and the last stream is gone
  bool counted_open_ = false;       // included in stats->connections_open
  std::deque<UpstreamCallbacks*> pending_;  // waiting for the connection
  Http2ClientStream* streams_ = nullptr;
  uint32_t stream_count_ = 0;
  Timer timer_;  // connect timeout, then idle timeout with no streams
  GlitchBudget glitches_;
  // Streams refused while a read is being processed are reported after it, so that a
  // GOAWAY in the same read is known first and their retry goes elsewhere.
  bool in_recv_ = false;
  std::vector<std::pair<UpstreamCallbacks*, UpstreamError>> refused_;
  void report_refused();
};

}  // namespace ringway
