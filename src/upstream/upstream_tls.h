#pragma once
// TLS towards one pool's https:// target: the shard's client context (trust anchors,
// optional client certificate, ALPN h2 or http/1.1) and a session per connection,
// with SNI and certificate-name checks against the target's host. New connections
// resume the newest session the upstream issued (session tickets), so a pool that
// opens connections often does not pay a full handshake each time.

#include <memory>
#include <string>

#include "net/tcp_conn.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"
#include "upstream/upstream_settings.h"

namespace ringway {

class UpstreamTls {
 public:
  // The client-context settings: pools with equal keys share one context (one parsed
  // CA bundle per shard, not one per API).
  static std::string context_key(const UpstreamSettings& settings);
  // Null (with |error| set) when the files cannot be loaded. |shared| is used when
  // non-null (an equal context_key), else a context is made.
  static std::unique_ptr<UpstreamTls> create(const UpstreamSettings& settings,
                                             std::shared_ptr<TlsClientContext> shared,
                                             std::string* error);
  const std::shared_ptr<TlsClientContext>& context() const { return context_; }

  // Makes |tcp| (not yet connected) speak TLS to the target.
  void attach(TcpConn& tcp, uint32_t buffer_size);

 private:
  UpstreamTls() = default;
  std::shared_ptr<TlsClientContext> context_;
  std::string server_name_;
  // The newest ticket from this upstream: new connections resume with it.
  TlsClientSessionCache session_cache_;
  TlsRecordPolicy record_policy_;
};

}  // namespace ringway
