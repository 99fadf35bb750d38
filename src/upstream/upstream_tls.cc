#include "upstream/upstream_tls.h"

namespace ringway {

std::string UpstreamTls::context_key(const ApiConfig& api) {
  std::string key = api.upstream_ca_file;
  key += '\n';
  key += api.upstream_cert_file;
  key += '\n';
  key += api.upstream_key_file;
  key += api.tls_insecure_skip_verify ? "\ninsecure" : "\nverify";
  key += api.target.protocol == UpstreamProtocol::Http2 ? "\nh2" : "\nhttp/1.1";
  return key;
}

std::unique_ptr<UpstreamTls> UpstreamTls::create(const ApiConfig& api, const TlsConfig& tls,
                                                 std::shared_ptr<TlsClientContext> shared,
                                                 std::string* error) {
  std::unique_ptr<UpstreamTls> self(new UpstreamTls());
  self->server_name_ = api.target.host;
  self->record_policy_ = TlsRecordPolicy{tls.record_warmup_bytes, tls.record_idle_ms};
  if (shared) {
    self->context_ = std::move(shared);
    return self;
  }
  TlsClientConfig client;
  client.ca_file = api.upstream_ca_file;
  client.insecure_skip_verify = api.tls_insecure_skip_verify;
  client.cert_file = api.upstream_cert_file;
  client.key_file = api.upstream_key_file;
  client.offer_h2 = api.target.protocol == UpstreamProtocol::Http2;
  TlsClientContextResult made = TlsClientContext::create(client);
  if (!made.context) {
    *error = "api " + api.name + ": " + made.error;
    return nullptr;
  }
  self->context_ = std::move(made.context);
  return self;
}

void UpstreamTls::attach(TcpConn& tcp, uint32_t buffer_size) const {
  TlsLimits limits;
  limits.ciphertext_in_bytes_max = buffer_size + 32768;
  tcp.use_tls(std::make_unique<TlsSession>(*context_, limits, server_name_, &session_cache_),
              record_policy_);
}

}  // namespace ringway
