#pragma once
// The downstream (client) half of a request, as the codecs present it to whoever
// answers it. A codec owns a ServerStream per request and asks the listener's
// RequestHandlerFactory for a RequestHandler when the request head is complete; the
// proxy pipeline and the admin API are two such handlers. Neither side knows the
// other's concrete type.
//
// Lifetime: the codec stops calling the handler after on_downstream_reset(); the
// handler stops calling the stream after send_response_end(), send_local_reply() or
// abort_response() (the codec forgets the handler then too).

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"
#include "mem/slice.h"

namespace ringway {

enum class ClientCertState : uint8_t {
  kNone,        // cleartext connection, or no certificate sent
  kVerified,    // chain verified against [tls] client_ca_file
  kUnverified,  // sent but did not verify (wrong CA, expired, ...)
};

// What a downstream TLS connection learned about the client's certificate.
struct ClientCert {
  ClientCertState state = ClientCertState::kNone;
  std::string sha256;        // lower-case hex of the DER certificate
  std::string subject;       // RFC 2253
  std::string verify_error;  // why it did not verify
};

enum class DownstreamProtocol : uint8_t { kHttp1 = 0, kHttp2 = 1 };
inline constexpr size_t kDownstreamProtocolCount = 2;

// Facts about the client connection a request arrived on. Owned by the connection;
// valid for a handler as long as the codec has not reported on_downstream_reset().
struct DownstreamInfo {
  std::string client_address;  // the peer's IP address, no port
  bool tls = false;
  DownstreamProtocol protocol = DownstreamProtocol::kHttp1;
  ClientCert client_cert;  // meaningful on TLS connections once the handshake is done
  // The peer is in [gateway] trusted_proxies: its x-forwarded-* headers are kept.
  bool trusted_proxy = false;

  std::string_view scheme() const { return tls ? "https" : "http"; }
  // The client's certificate on TLS connections, null on cleartext ones.
  const ClientCert* cert() const { return tls ? &client_cert : nullptr; }
};

// The codec's side of one request: how the handler answers.
class ServerStream {
 public:
  // |end_stream|: there is no body (HEAD, 204, 304, or content-length 0 and no body).
  virtual void send_response_head(ResponseHead& head, bool end_stream) = 0;
  // Body bytes; once they have left the socket the codec calls
  // RequestHandler::on_response_bytes_sent().
  virtual void send_response_data(Slice data) = 0;
  // End of the body, with optional trailers.
  virtual void send_response_end(const HeaderList* trailers) = 0;
  // A local reply (head + whole body) when no response has started.
  virtual void send_local_reply(ResponseHead& head, Slice body) = 0;
  // The response broke after it started: make the truncation visible to the client
  // (HTTP/1.1: close the connection; HTTP/2: RST_STREAM).
  virtual void abort_response() = 0;
  // |bytes| of request body were used up: HTTP/2 returns them to the client's
  // flow-control window.
  virtual void consume_request_bytes(uint32_t bytes) = 0;
  // Stop / restart reading the request body (HTTP/1.1 back-pressure; HTTP/2 relies on
  // its flow-control window and ignores these).
  virtual void pause_request() = 0;
  virtual void resume_request() = 0;

 protected:
  ~ServerStream() = default;
};

// What a codec calls for one request.
class RequestHandler {
 public:
  // The request head is complete; |end_stream| when the request has no body.
  virtual void on_request_head(RequestHead&& head, bool end_stream) = 0;
  virtual void on_request_data(Slice data) = 0;
  virtual void on_request_end(const HeaderList* trailers) = 0;
  // Response bytes reached the client's socket.
  virtual void on_response_bytes_sent(uint32_t bytes) = 0;
  // The client went away or reset the stream; the codec forgets the handler.
  virtual void on_downstream_reset() = 0;
  // Protocol error in the request body (e.g. bad chunk encoding) after the head.
  virtual void on_request_error() = 0;

 protected:
  ~RequestHandler() = default;
};

// One per listener: makes the handler of each request that arrives on it.
class RequestHandlerFactory {
 public:
  // Called when a request head is complete, right before on_request_head. The
  // handler manages its own lifetime (see the top of this file).
  virtual RequestHandler* new_request(ServerStream* stream, const DownstreamInfo& info) = 0;

 protected:
  ~RequestHandlerFactory() = default;
};

}  // namespace ringway
