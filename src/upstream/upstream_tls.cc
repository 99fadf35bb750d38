#include "upstream/upstream_tls.h"

namespace ringway {

std::string UpstreamTls::context_key(const UpstreamSettings& settings) {
  std::string key = settings.ca_file;
  key += '\n';
  key += settings.cert_file;
  key += '\n';
  key += settings.key_file;
  key += settings.insecure_skip_verify ? "\ninsecure" : "\nverify";
  key += settings.target.protocol == UpstreamProtocol::Http2 ? "\nh2" : "\nhttp/1.1";
  key += '\n';
  key += settings.tls_files_identity;
  return key;
}

std::unique_ptr<UpstreamTls> UpstreamTls::create(const UpstreamSettings& settings,
                                                 std::shared_ptr<TlsClientContext> shared,
                                                 std::string* error) {
  std::unique_ptr<UpstreamTls> self(new UpstreamTls());
  self->server_name_ = settings.target.host;
  self->record_policy_ = TlsRecordPolicy{settings.record_warmup_bytes, settings.record_idle_ms};
  if (shared) {
    self->context_ = std::move(shared);
    return self;
  }
  TlsClientConfig client;
  client.ca_file = settings.ca_file;
  client.insecure_skip_verify = settings.insecure_skip_verify;
  client.cert_file = settings.cert_file;
  client.key_file = settings.key_file;
  client.offer_h2 = settings.target.protocol == UpstreamProtocol::Http2;
  TlsClientContextResult made = TlsClientContext::create(client);
  if (!made.context) {
    *error = "api " + settings.api + ": " + made.error;
    return nullptr;
  }
  self->context_ = std::move(made.context);
  return self;
}

void UpstreamTls::attach(TcpConn& tcp, uint32_t buffer_size) {
  TlsLimits limits;
  limits.ciphertext_in_bytes_max = buffer_size + 32768;
  tcp.use_tls(std::make_unique<TlsSession>(*context_, limits, server_name_, &session_cache_),
              record_policy_);
}

}  // namespace ringway
