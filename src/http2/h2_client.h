#pragma once
// HTTP/2 cleartext (prior knowledge) client connection to an upstream, multiplexing
// many exchanges' streams. Same flow-control policy as the server side: the
// connection window is consumed on receipt, a stream's window only when its bytes
// reached the client, so a slow client slows its upstream stream and nothing else.

#include <cstdint>
#include <deque>

#include <nghttp2/nghttp2.h>

#include "config/config.h"
#include "http/local_reply.h"
#include "http2/h2_common.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"
#include "net/tcp_conn.h"
#include "proxy/proxy_context.h"
#include "proxy/streams.h"

namespace ringway {

class UpstreamTls;

class Exchange;
class Http2Pool;
class Http2ClientConn;

class Http2ClientStream final : public UpstreamStream, public PoolAllocated<Http2ClientStream> {
 public:
  Http2ClientStream(Http2ClientConn* conn, Exchange* ex) : conn_(conn), exchange_(ex) {}

  void send_request_head(const RequestHead& head, bool end_stream) override;
  void send_request_data(Slice data) override;
  void send_request_end(const HeaderList* trailers) override;
  void consume_response_bytes(uint32_t bytes) override;
  void pause_response() override {}
  void resume_response() override {}
  void cancel() override;

  Http2ClientConn* conn_;
  Exchange* exchange_;
  int32_t id_ = -1;
  ResponseHead response_;
  HeaderList trailers_;
  bool head_delivered_ = false;
  size_t header_bytes_ = 0;
  OutboundBody body_;
  Http2ClientStream* prev_ = nullptr;
  Http2ClientStream* next_ = nullptr;
};

class Http2ClientConn final : public TcpConn::Handler, public PoolAllocated<Http2ClientConn> {
 public:
  Http2ClientConn(ProxyContext* ctx, Http2Pool* pool);
  Http2ClientConn(const Http2ClientConn&) = delete;
  Http2ClientConn& operator=(const Http2ClientConn&) = delete;

  // |tls| (null for cleartext: h2c) makes the connection speak TLS with ALPN h2; the
  // connect timeout then covers the handshake too.
  void connect(const SockAddr& address, const UpstreamTls* tls);
  // True when one more stream may be opened here now or once connected.
  bool has_capacity() const;
  // Opens a stream for |ex| now, or once the connection is up.
  void add_exchange(Exchange* ex);
  bool forget_pending(Exchange* ex);
  // Drain: no new streams; close once the open ones finish.
  void shutdown();
  // Fails every exchange (pending and streaming) and closes the connection.
  void fail_all(LocalReplyCause cause, const char* message);

  nghttp2_session* session() { return session_; }
  TcpConn& tcp() { return tcp_; }
  void request_flush() { tcp_.request_flush(); }

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
  static int cb_data_chunk_recv(nghttp2_session*, uint8_t flags, int32_t stream_id,
                                const uint8_t* data, size_t len, void* user_data);
  static int cb_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* user_data);
  static int cb_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                          size_t length, nghttp2_data_source* source, void* user_data);
  static void on_timer(Timer* timer);

  void open_stream(Exchange* ex);
  // The peer's first SETTINGS arrived: open the waiting exchanges' streams (those
  // beyond its limit go back to the pool).
  void open_pending();
  void remove_stream(Http2ClientStream* stream);
  void close();
  void update_timer();

  ProxyContext* ctx_;
  Http2Pool* pool_;
  TcpConn tcp_;
  nghttp2_session* session_ = nullptr;
  State state_ = State::Connecting;
  bool goaway_ = false;   // peer sent GOAWAY or we are draining: no new streams
  bool settings_received_ = false;  // the peer's first SETTINGS frame arrived
  std::deque<Exchange*> pending_;  // waiting for the connection
  Http2ClientStream* streams_ = nullptr;
  uint32_t stream_count_ = 0;
  Timer timer_;  // connect timeout, then idle timeout with no streams
};

}  // namespace ringway
