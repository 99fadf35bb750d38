#pragma once
// HTTP/1.1 server side of a downstream connection: llhttp parses requests, each
// request goes to a handler from the connection's RequestHandlerFactory, responses
// are serialized in request order. Parsing
// pauses at the end of each request until its response is complete, which is what
// answers pipelined requests in order. Request bodies stream to the handler as
// slices of the receive buffers (chunked framing removed by llhttp).

#include <cstdint>
#include <string>

#include <llhttp.h>

#include "http/downstream.h"
#include "http/local_reply.h"
#include "http/message.h"
#include "http/server_codec.h"
#include "http1/h1_header_collector.h"
#include "http1/h1_request_checks.h"
#include "http1/h1_serialize.h"
#include "io/timer_wheel.h"
#include "mem/pool.h"

namespace ringway {

class Http1Server final : public ServerCodec,
                          public ServerStream,
                          public PoolAllocated<Http1Server> {
 public:
  explicit Http1Server(const ServerCodecContext& context);
  ~Http1Server() override;

  // ServerCodec
  size_t on_recv(const char* data, size_t len) override;
  void on_recv_end(int error) override;
  void on_credit(uint32_t credit_id, uint32_t bytes) override;
  void drain() override;
  void on_connection_closing() override;

  // ServerStream
  void send_response_head(ResponseHead& head, bool end_stream) override;
  void send_response_data(Slice data) override;
  void send_response_end(const HeaderList* trailers) override;
  void send_local_reply(ResponseHead& head, Slice body) override;
  void abort_response() override;
  void consume_request_bytes(uint32_t) override {}
  void pause_request() override;
  void resume_request() override;

 private:
  static int cb_message_begin(llhttp_t* p);
  static int cb_method(llhttp_t* p, const char* at, size_t len);
  static int cb_url(llhttp_t* p, const char* at, size_t len);
  static int cb_header_field(llhttp_t* p, const char* at, size_t len);
  static int cb_header_value(llhttp_t* p, const char* at, size_t len);
  static int cb_header_value_complete(llhttp_t* p);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t len);
  static int cb_message_complete(llhttp_t* p);
  static int cb_chunk_extension(llhttp_t* p, const char* at, size_t len);
  static int cb_chunk_extension_part_complete(llhttp_t* p);
  static int cb_chunk_header(llhttp_t* p);
  static void on_timer(Timer* timer);
  static const llhttp_settings_t* settings();

  int headers_complete();
  int message_complete();
  int header_limit_passed();
  // Scans the head (or trailer section) from |at| to the end of the bytes being parsed.
  int start_scan(const char* at, bool request_line);
  // Fails the parse from a callback with a 400 and |why|.
  int fail_parse(const char* why);
  // Why a complete head is not acceptable (target, Host, framing), or null; sets
  // head_.authority.
  const char* check_head(const std::string& host, int host_count, int te_count,
                         bool te_chunked);
  // The input cannot be parsed (llhttp's error or one of ours): 400 / 431 and close.
  void malformed_input(const char* why);
  // A 400 for a head that parsed but breaks a rule; counted as malformed.
  void reject_head(const char* why, bool grpc);
  // Local reply for a request that never reached a handler (parse errors, limits).
  void reply_error(LocalReplyCause cause, const char* message, bool grpc);
  void write_head(const std::string& head);
  void response_finished();
  void maybe_unpause();
  void arm_idle();

  ByteSink& tcp() { return *ctx_.out; }

  ServerCodecContext ctx_;
  llhttp_t parser_;
  RequestHandler* handler_ = nullptr;  // the request being answered, if it has one
  uint32_t request_seq_ = 0;      // credit id of the current response's body slices

  // Request being parsed.
  RequestHead head_;
  HeaderList trailers_;
  H1HeaderCollector headers_;
  bool in_trailers_ = false;
  bool in_request_ = false;       // between message_begin and message_complete
  bool request_complete_ = true;  // the current request has been fully read
  bool head_ended_request_ = false;  // the head had no body: the handler knows the end
  int parse_error_cause_ = 0;     // 0, 400, 431: set by callbacks before returning -1
  const char* parse_error_why_ = nullptr;  // with 400
  H1HeadScanner scanner_;         // runs ahead of llhttp over the head and trailers
  bool head_scanned_ = false;     // the scan of this request's head / trailers started
  bool trailers_scanned_ = false;
  const char* recv_end_ = nullptr;  // end of the bytes llhttp is parsing
  uint32_t chunk_extension_bytes_ = 0;  // of the chunk-size line being parsed

  // Response being written.
  bool response_active_ = false;  // head sent, end not yet
  BodyFraming framing_ = BodyFraming::None;
  bool keep_alive_ = true;
  bool head_method_ = false;

  // Input pauses: at a request's end until its response completes; on back-pressure.
  bool paused_for_response_ = false;
  bool paused_for_body_ = false;
  bool draining_ = false;
  bool closing_ = false;
  Timer timer_;  // header-read timeout while reading a head, idle timeout otherwise
  uint64_t last_recv_ms_ = 0;  // a body upload is idle only if nothing arrived
  bool timer_is_header_ = false;
};

}  // namespace ringway
