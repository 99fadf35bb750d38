#pragma once
// HTTP/1.1 client connection to an upstream: serializes one request at a time
// (keep-alive, no pipelining), parses the response with llhttp, and goes back to its
// owner (a pool) when both directions are complete and the server allows keep-alive.
// The request's sender is an UpstreamCallbacks; this class knows neither the pool's
// nor the sender's concrete type.

#include <cstdint>
#include <string>

#include <llhttp.h>

#include "config/config.h"
#include "http/message.h"
#include "http/upstream.h"
#include "http1/h1_header_collector.h"
#include "http1/h1_serialize.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"
#include "net/tcp_conn.h"

namespace ringway {

class Http1ClientConn final : public TcpConn::Handler,
                              public UpstreamStream,
                              public PoolAllocated<Http1ClientConn> {
 public:
  class Owner {
   public:
    // A connection attempt finished (failures delay the next one).
    virtual void on_connect_result(bool ok) = 0;
    // The connection became idle and may carry another request.
    virtual void release(Http1ClientConn* conn) = 0;
    // The connection is closing: no new work.
    virtual void on_conn_closing(Http1ClientConn* conn) = 0;
    // The connection is gone; it is freed right after this call.
    virtual void on_conn_closed(Http1ClientConn* conn) = 0;

   protected:
    ~Owner() = default;
  };

  Http1ClientConn(const ClientCodecContext& context, Owner* owner);
  Http1ClientConn(const Http1ClientConn&) = delete;
  Http1ClientConn& operator=(const Http1ClientConn&) = delete;

  // For use_tls() before connect(): the connect timeout then covers the handshake.
  TcpConn& tcp() { return tcp_; }
  // Drives the codec over |sink| instead of its socket (unit tests and fuzz targets):
  // call right after construction instead of connect(), then report on_connected(0)
  // through the TcpConn::Handler interface and feed input with on_recv().
  void attach_sink(ByteSink* sink) { out_ = sink; }
  // Starts connecting; |waiter| (may be null) gets the connection when it is ready.
  void connect(const SockAddr& address, UpstreamCallbacks* waiter);
  // Binds a request to this idle connection (calls on_upstream_ready).
  void assign(UpstreamCallbacks* callbacks);
  // The waiting caller gave up; keep connecting for the pool.
  void forget_waiter_if(UpstreamCallbacks* callbacks) {
    if (waiter_ == callbacks) waiter_ = nullptr;
  }
  // Closes now (pool shutdown or idle timeout).
  void close();
  // Reports |error| to the caller (if any) and closes the connection.
  void fail(const UpstreamError& error);
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
  // The connection ended (closed, reset, send failed) while a request was bound.
  void fail_lost(const char* message);

  ClientCodecContext ctx_;
  Owner* owner_;
  TcpConn tcp_;
  ByteSink* out_ = &tcp_;  // where output goes: the socket, or attach_sink()'s
  State state_ = State::Connecting;
  UpstreamCallbacks* waiter_ = nullptr;     // waiting for the connect
  UpstreamCallbacks* callbacks_ = nullptr;  // bound request
  llhttp_t parser_;
  Timer timer_;  // connect timeout, then idle timeout while pooled
  bool counted_open_ = false;  // included in stats->connections_open

  // Current request/response.
  BodyFraming request_framing_ = BodyFraming::None;
  uint32_t requests_done_ = 0;  // responses completed on this connection
  uint32_t head_credit_ = 0;    // credit id of the request head; its body's is one more
  bool head_sent_ = false;      // the request head has fully left our socket
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
