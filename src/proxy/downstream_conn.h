#pragma once
// A client connection: the TcpConn plus the codec chosen from its first bytes
// (HTTP/2 prior-knowledge preface when enable_http2, else HTTP/1.1) or, on a TLS
// listener, from ALPN after the handshake (h2, else HTTP/1.1). Owned by the shard's
// list of downstream connections; frees itself after the socket is closed.

#include <memory>
#include <string>

#include "auth/client_cert.h"
#include "mem/pool.h"
#include "net/tcp_conn.h"
#include "proxy/proxy_context.h"
#include "proxy/server_codec.h"

namespace ringway {

class DownstreamConnList;

class DownstreamConn final : public TcpConn::Handler, public PoolAllocated<DownstreamConn> {
 public:
  // |tls|: the connection came in on a tls_listen address.
  DownstreamConn(ProxyContext* ctx, DownstreamConnList* list, int fd, std::string client_address,
                 bool tls);
  DownstreamConn(const DownstreamConn&) = delete;
  DownstreamConn& operator=(const DownstreamConn&) = delete;

  void start();
  void drain();
  // Closes the socket now (drain deadline passed).
  void abort();

  TcpConn& tcp() { return tcp_; }
  ProxyContext* ctx() { return ctx_; }
  const std::string& client_address() const { return client_address_; }
  std::string_view scheme() const { return tls_ ? "https" : "http"; }
  // The client's certificate (TLS connections), null on cleartext ones.
  const ClientCert* client_cert() const { return tls_ ? &client_cert_ : nullptr; }

  // Intrusive list links, owned by DownstreamConnList.
  DownstreamConn* prev_ = nullptr;
  DownstreamConn* next_ = nullptr;

 private:
  ~DownstreamConn();
  size_t on_recv(const char* data, size_t len) override;
  void on_recv_end(int error) override;
  void on_credit(uint32_t credit_id, uint32_t bytes) override;
  void on_send_drained() override;
  void on_before_flush() override;
  void on_send_error(int error) override;
  void on_closed() override;
  void on_tls_handshake(bool ok) override;
  void choose_codec(bool http2);
  static void on_sniff_timeout(Timer* timer);

  ProxyContext* ctx_;
  DownstreamConnList* list_;
  TcpConn tcp_;
  std::string client_address_;
  std::unique_ptr<ServerCodec> codec_;
  char sniff_[24];
  size_t sniffed_ = 0;
  Timer sniff_timer_;  // the first bytes (or the TLS handshake) must arrive in time
  bool draining_ = false;
  bool tls_ = false;
  ClientCert client_cert_;
};

// The shard's downstream connections, for drain and shutdown.
class DownstreamConnList {
 public:
  void add(DownstreamConn* c);
  void remove(DownstreamConn* c);
  uint32_t size() const { return size_; }
  template <class F>
  void for_each(F f) {
    for (DownstreamConn* c = head_; c;) {
      DownstreamConn* next = c->next_;
      f(c);
      c = next;
    }
  }

 private:
  DownstreamConn* head_ = nullptr;
  uint32_t size_ = 0;
};

}  // namespace ringway
