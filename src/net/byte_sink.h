#pragma once
// A connection as a protocol codec sees it: where its output goes and how its input
// is throttled and ended. TcpConn implements it over the ring; tests and fuzz targets
// drive codecs with an in-memory one.

#include <cstddef>
#include <cstdint>

#include "mem/slice.h"

namespace ringway {

class ByteSink {
 public:
  // Queues bytes for the peer; the send goes out at the end of the turn. A slice
  // written with |credit_id| != 0 is reported back (Handler::on_credit) once sent.
  virtual void write(Slice slice, uint32_t credit_id = 0) = 0;
  virtual void write_copy(const char* data, size_t len) = 0;
  virtual size_t queued_bytes() const = 0;
  // More than the connection's send-queue limit is queued: hold further output.
  virtual bool output_full() const = 0;
  // Makes sure the codec's on_before_flush() runs at the end of this turn.
  virtual void request_flush() = 0;
  // Stop / restart delivering input (what was not consumed is delivered again).
  virtual void pause_recv() = 0;
  virtual void resume_recv() = 0;
  // Flush what is queued, then close; or close now, dropping it.
  virtual void close_after_flush(uint32_t linger_ms) = 0;
  virtual void abort() = 0;
  virtual bool closing() const = 0;

 protected:
  ~ByteSink() = default;
};

}  // namespace ringway
