#pragma once
// HTTP/1.1 client connection to an upstream: serializes one request at a time
// (keep-alive, no pipelining), parses the response with llhttp, and goes back to its
// pool when both directions are complete and the server allows keep-alive.

#include <cstdint>
#include <string>

#include <llhttp.h>

#include "config/config.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "http1/h1_header_collector.h"
#include "http1/h1_serialize.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"
#include "net/tcp_conn.h"
#include "proxy/proxy_context.h"
#include "proxy/streams.h"

namespace ringway {

class UpstreamTls;

class Exchange;
class Http1Pool;

class Http1ClientConn final : public TcpConn::Handler,
                        public UpstreamStream,
                        public PoolAllocated<Http1ClientConn> {
 public:
  Http1ClientConn(ProxyContext* ctx, Http1Pool* pool);
  Http1ClientConn(const Http1ClientConn&) = delete;
  Http1ClientConn& operator=(const Http1ClientConn&) = delete;

  // Starts connecting; |waiter| (may be null) gets the connection when it is ready.
  // |tls| (null for cleartext) makes the connection speak TLS; the connect timeout
  // then covers the handshake too.
  void connect(const SockAddr& address, Exchange* waiter, const UpstreamTls* tls);
  // Binds an exchange to this idle connection (calls on_upstream_ready).
  void assign(Exchange* ex);
  // The waiting exchange gave up; keep connecting for the pool.
  void forget_waiter_if(Exchange* ex) {
    if (waiter_ == ex) waiter_ = nullptr;
  }
  // Closes now (pool shutdown or idle timeout).
  void close();
  // Reports |cause| to the exchange (if any) and closes the connection.
  void fail(LocalReplyCause cause, const char* message);
  bool idle() const { return state_ == State::Idle; }

  // Intrusive links for the pool's idle list.
  Http1ClientConn* idle_prev_ = nullptr;
  Http1ClientConn* idle_next_ = nullptr;

  // UpstreamStream
  void send_request_head(const RequestHead& head, bool end_stream) override;
  void send_request_data(Slice data) override;
  void send_request_end(const HeaderList* trailers) override;
  void consume_response_bytes(uint32_t) override {}
  void pause_response() override;
  void resume_response() override;
  void cancel() override;

 private:
  enum class State : uint8_t { Connecting, Idle, Busy, Closing };

  ~Http1ClientConn();
  size_t on_recv(const char* data, size_t len) override;
  void on_recv_end(int error) override;
  void on_credit(uint32_t credit_id, uint32_t bytes) override;
  void on_send_error(int error) override;
  void on_connected(int error) override;
  void on_closed() override;

  static int cb_message_begin(llhttp_t* p);
  static int cb_header_field(llhttp_t* p, const char* at, size_t len);
  static int cb_header_value(llhttp_t* p, const char* at, size_t len);
  static int cb_header_value_complete(llhttp_t* p);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t len);
  static int cb_message_complete(llhttp_t* p);
  static const llhttp_settings_t* settings();
  static void on_timer(Timer* timer);

  int headers_complete();
  int message_complete();
  void maybe_release();

  ProxyContext* ctx_;
  Http1Pool* pool_;
  TcpConn tcp_;
  State state_ = State::Connecting;
  Exchange* waiter_ = nullptr;    // waiting for the connect
  Exchange* exchange_ = nullptr;  // bound request
  llhttp_t parser_;
  Timer timer_;  // connect timeout, then idle timeout while pooled

  // Current request/response.
  BodyFraming request_framing_ = BodyFraming::None;
  bool request_done_ = false;
  bool response_started_ = false;
  bool response_done_ = false;
  bool head_request_ = false;
  bool keep_alive_ = true;
  bool paused_ = false;
  bool in_trailers_ = false;
  bool skipping_informational_ = false;
  ResponseHead response_;
  HeaderList trailers_;
  H1HeaderCollector headers_;
};

}  // namespace ringway
