#pragma once
// HTTP/2 server side of a downstream connection (cleartext, prior knowledge) on an
// nghttp2 server session fed from the receive buffers. Each request stream goes to a
// handler from the connection's RequestHandlerFactory. Flow control is back-pressure: automatic WINDOW_UPDATEs are off; the
// connection window is consumed on receipt, a stream's window only when its bytes
// reached the upstream socket, so a stream buffers at most its initial window
// (stream_buffer_bytes).

#include <cstdint>
#include <string>

#include <nghttp2/nghttp2.h>

#include "http/downstream.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "http/server_codec.h"
#include "http2/h2_common.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"

namespace ringway {

class Http2Server;

class Http2ServerStream final : public ServerStream, public PoolAllocated<Http2ServerStream> {
 public:
  Http2ServerStream(Http2Server* server, int32_t id);
  ~Http2ServerStream();

  void send_response_head(ResponseHead& head, bool end_stream) override;
  void send_response_data(Slice data) override;
  void send_response_end(const HeaderList* trailers) override;
  void send_local_reply(ResponseHead& head, Slice body) override;
  void abort_response() override;
  void consume_request_bytes(uint32_t bytes) override;
  void pause_request() override {}
  void resume_request() override {}

  Http2Server* server_;
  int32_t id_;
  RequestHead head_;
  HeaderList trailers_;
  size_t header_bytes_ = 0;
  bool header_overflow_ = false;
  bool uri_too_long_ = false;  // the overflow was :path alone
  bool in_trailers_ = false;
  bool request_ended_ = false;
  bool head_method_ = false;  // HEAD: responses carry no body
  bool grpc_ = false;         // content-type application/grpc*
  bool responded_ = false;    // a response (or local reply) was submitted
  bool host_conflict_ = false;  // a host header that differs from :authority
  RequestHandler* handler_ = nullptr;
  // A local reply made while the client is still sending its body waits for the end
  // of the request, the body being discarded meanwhile (bounded: see
  // kMaxDiscardedRequestBytes in h2_server.cc).
  bool reply_deferred_ = false;
  ResponseHead deferred_head_;
  uint64_t discarded_bytes_ = 0;
  Timer reply_timer_;  // sends a deferred reply if the request does not end in time
  void send_deferred_reply();
  OutboundBody body_;
  // When the client last took response bytes (or the body started waiting): a stream
  // whose body waits longer than send_timeout_ms for flow-control window is reset.
  uint64_t last_sent_ms_ = 0;
  // Brings the shard's MemoryBudget up to date with the bytes body_ holds.
  void sync_body_charge();
  size_t body_charged_ = 0;
  Http2ServerStream* prev_ = nullptr;
  Http2ServerStream* next_ = nullptr;

 private:
  void submit_with_body(ResponseHead& head, bool with_body);
};

class Http2Server final : public ServerCodec, public PoolAllocated<Http2Server> {
 public:
  explicit Http2Server(const ServerCodecContext& context);
  ~Http2Server() override;

  size_t on_recv(const char* data, size_t len) override;
  void on_recv_end(int error) override;
  void on_credit(uint32_t credit_id, uint32_t bytes) override;
  void on_before_flush() override;
  void drain() override;
  void on_connection_closing() override;

  nghttp2_session* session() { return session_; }
  const ServerCodecContext& context() const { return ctx_; }
  ByteSink& tcp() { return *ctx_.out; }
  void request_flush();

 private:
  friend class Http2ServerStream;
  static int cb_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data);
  static int cb_invalid_frame_recv(nghttp2_session*, const nghttp2_frame* frame, int error,
                                   void* user_data);
  static int cb_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  // Header fields arrive as rcbufs: regular fields are kept by reference, not copied.
  static int cb_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name_rc,
                       nghttp2_rcbuf* value_rc, uint8_t flags, void* user_data);
  static int cb_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int cb_data_chunk_recv(nghttp2_session*, uint8_t flags, int32_t stream_id,
                                const uint8_t* data, size_t len, void* user_data);
  static int cb_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* user_data);
  static int cb_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int cb_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                          size_t length, nghttp2_data_source* source, void* user_data);
  static void on_timer(Timer* timer);
  static void on_settings_timeout(Timer* timer);
  static void on_header_timeout(Timer* timer);
  static void on_stall_timer(Timer* timer);
  // Makes sure streams with response bytes waiting are checked for stalls.
  void watch_stalls();

  // Takes a token for one piece of misbehaviour; false when none is left, after the
  // connection has been told GOAWAY(ENHANCE_YOUR_CALM) (the caller stops processing).
  bool glitch();
  bool recently_reset(int32_t stream_id) const;
  // Ends the connection from a timer: GOAWAY(|code|), flush, close.
  void terminate(uint32_t code);

  void start_request(Http2ServerStream* stream, bool end_stream);
  void reply_error(Http2ServerStream* stream, LocalReplyCause cause, const char* message);
  void close_stream(Http2ServerStream* stream);
  void update_idle_timer();

  ServerCodecContext ctx_;
  nghttp2_session* session_ = nullptr;
  Http2ServerStream* streams_ = nullptr;  // open streams (intrusive list)
  uint32_t stream_count_ = 0;
  bool draining_ = false;
  bool closing_ = false;
  // idle_timeout_ms: with no stream open, the connection closes (GOAWAY); with streams
  // open, it closes when no byte was received or sent for that long (a stalled client
  // must not hold streams and their upstream work forever).
  Timer idle_timer_;
  uint64_t last_activity_ms_ = 0;
  // Misbehaviour budget (http2_max_glitches, refilled at http2_glitch_refill_per_s).
  GlitchBudget glitches_;
  bool calmed_ = false;  // GOAWAY(ENHANCE_YOUR_CALM) queued
  int32_t highest_stream_id_ = 0;  // of the HEADERS the client sent
  // The last streams we sent RST_STREAM on: the client's frames may cross it.
  static constexpr uint32_t kRecentResets = 32;
  int32_t reset_ids_[kRecentResets] = {};
  uint32_t reset_next_ = 0;
  // Our SETTINGS must be acknowledged in settings_ack_timeout_ms.
  Timer settings_timer_;
  // A header block (HEADERS + CONTINUATION) must end in request_header_timeout_ms.
  Timer header_timer_;
  // Runs every send_timeout_ms while some stream has response bytes waiting.
  Timer stall_timer_;
};

}  // namespace ringway
