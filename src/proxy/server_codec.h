#pragma once
// The protocol half of a downstream connection, chosen after sniffing the first bytes
// (HTTP/2 connection preface or HTTP/1.1). It receives the TcpConn's events.

#include <cstddef>
#include <cstdint>

namespace ringway {

class ServerCodec {
 public:
  virtual ~ServerCodec() = default;
  virtual size_t on_recv(const char* data, size_t len) = 0;
  virtual void on_recv_end(int error) = 0;
  virtual void on_credit(uint32_t credit_id, uint32_t bytes) = 0;
  virtual void on_before_flush() {}
  virtual void on_send_drained() {}
  // Graceful shutdown: finish what is in progress, accept nothing new, then close.
  virtual void drain() = 0;
  // The connection is closing or closed: detach every exchange (they see a reset).
  virtual void on_connection_closing() = 0;
};

}  // namespace ringway
