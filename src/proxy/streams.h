#pragma once
// The two sides of one proxied request. A DownstreamStream is the client's half (an
// HTTP/1.1 connection's current request, or an HTTP/2 server stream); an
// UpstreamStream is the backend's half (an HTTP/1.1 client connection, or an HTTP/2
// client stream). The Exchange in between talks to both only through these.

#include <cstdint>

#include "http/message.h"
#include "mem/slice.h"

namespace ringway {

class DownstreamStream {
 public:
  // |end_stream|: there is no body (HEAD, 204, 304, or content-length 0 and no body).
  virtual void send_response_head(ResponseHead& head, bool end_stream) = 0;
  // Body bytes; when they have left the socket the stream calls
  // Exchange::on_response_bytes_sent().
  virtual void send_response_data(Slice data) = 0;
  // End of the body, with optional trailers.
  virtual void send_response_end(const HeaderList* trailers) = 0;
  // A local reply (head + whole body) when no response has started.
  virtual void send_local_reply(ResponseHead& head, Slice body) = 0;
  // The response broke after it started: make the truncation visible to the client
  // (HTTP/1.1: close the connection; HTTP/2: RST_STREAM).
  virtual void abort_response() = 0;
  // |bytes| of request body reached the upstream socket: HTTP/2 returns them to the
  // client's flow-control window.
  virtual void consume_request_bytes(uint32_t bytes) = 0;
  // Stop / restart reading the request body (HTTP/1.1 back-pressure; HTTP/2 relies on
  // its flow-control window and ignores these).
  virtual void pause_request() = 0;
  virtual void resume_request() = 0;

 protected:
  ~DownstreamStream() = default;
};

class UpstreamStream {
 public:
  // Sends the request head; |end_stream| when there is no body.
  virtual void send_request_head(const RequestHead& head, bool end_stream) = 0;
  // Body bytes; when they leave the socket the stream calls
  // Exchange::on_request_bytes_sent().
  virtual void send_request_data(Slice data) = 0;
  virtual void send_request_end(const HeaderList* trailers) = 0;
  // |bytes| of response body reached the client: HTTP/2 re-opens the window.
  virtual void consume_response_bytes(uint32_t bytes) = 0;
  // HTTP/1.1 back-pressure on the response; HTTP/2 relies on its window.
  virtual void pause_response() = 0;
  virtual void resume_response() = 0;
  // The exchange gives up on this stream (client went away, timeout): HTTP/2 sends
  // RST_STREAM(CANCEL); HTTP/1.1 closes the connection. No callbacks follow.
  virtual void cancel() = 0;

 protected:
  ~UpstreamStream() = default;
};

}  // namespace ringway
