#include "tls/tls_context.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

// BoringSSL's stack.h trips -Wignored-qualifiers in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#pragma GCC diagnostic pop

namespace ringway {
namespace {

constexpr unsigned char kSessionIdContext[] = "ringway";
constexpr uint8_t kAlpnH2[] = {'h', '2'};
constexpr uint8_t kAlpnHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};

// Checks readability first so a bad path gets errno's words, not a PEM error.
std::string check_readable(const char* what, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return std::string(what) + " " + path + ": " + std::strerror(errno);
  }
  std::fclose(f);
  return {};
}

const uint8_t* find_alpn(const uint8_t* in, unsigned in_len, const uint8_t* want,
                         size_t want_len) {
  unsigned i = 0;
  while (i < in_len) {
    unsigned len = in[i];
    if (i + 1 + len > in_len) return nullptr;  // malformed list: treat as no match
    if (len == want_len && std::memcmp(in + i + 1, want, want_len) == 0) return in + i + 1;
    i += 1 + len;
  }
  return nullptr;
}

}  // namespace

std::string tls_take_error_text() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

TlsServerContextResult TlsServerContext::create(const TlsServerConfig& config) {
  TlsServerContextResult result;
  ERR_clear_error();
  if (std::string e = check_readable("cert_file", config.cert_file); !e.empty()) {
    result.error = e;
    return result;
  }
  if (std::string e = check_readable("key_file", config.key_file); !e.empty()) {
    result.error = e;
    return result;
  }
  if (!config.client_ca_file.empty()) {
    if (std::string e = check_readable("client_ca_file", config.client_ca_file); !e.empty()) {
      result.error = e;
      return result;
    }
  }

  std::unique_ptr<TlsServerContext> self(new TlsServerContext());
  self->enable_http2_ = config.enable_http2;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    result.error = "SSL_CTX_new: " + tls_take_error_text();
    return result;
  }
  self->ctx_ = ctx;

  if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1) {
    result.error = "cert_file " + config.cert_file + ": " + tls_take_error_text();
    return result;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // The library checks the key against the leaf here already; name that case.
    unsigned long code = ERR_peek_error();
    bool mismatch = ERR_GET_LIB(code) == ERR_LIB_X509 &&
                    (ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH ||
                     ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH);
    result.error = "key_file " + config.key_file +
                   (mismatch ? " does not match cert_file " + config.cert_file : std::string()) +
                   ": " + tls_take_error_text();
    return result;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    result.error = "key_file " + config.key_file + " does not match cert_file " +
                   config.cert_file + ": " + tls_take_error_text();
    return result;
  }

  int min = config.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);

  long options = SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_NO_RENEGOTIATION
  options |= SSL_OP_NO_RENEGOTIATION;  // OpenSSL; BoringSSL servers never renegotiate
#endif
  SSL_CTX_set_options(ctx, options);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

  // Stateless resumption only: no server-side cache (it would be per shard anyway).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);

  SSL_CTX_set_alpn_select_cb(ctx, &TlsServerContext::alpn_select, self.get());

  for (const std::string& key : config.ticket_keys) {
    TicketKey k;
    if (key.size() == 48) {
      k.cipher = EVP_aes_128_cbc();
      k.hmac_secret = key.substr(16, 16);
      k.aes_key = key.substr(32, 16);
    } else if (key.size() == 80) {
      k.cipher = EVP_aes_256_cbc();
      k.hmac_secret = key.substr(16, 32);
      k.aes_key = key.substr(48, 32);
    } else {
      result.error = "ticket key " + std::to_string(self->ticket_keys_.size()) + ": " +
                     std::to_string(key.size()) + " bytes, expected 48 or 80";
      return result;
    }
    std::memcpy(k.name, key.data(), 16);
    self->ticket_keys_.push_back(std::move(k));
  }
  if (!self->ticket_keys_.empty()) {
    SSL_CTX_set_app_data(ctx, self.get());
    SSL_CTX_set_tlsext_ticket_key_cb(ctx, &TlsServerContext::ticket_key_callback);
  }

  if (!config.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca_file.c_str(), nullptr) != 1) {
      result.error = "client_ca_file " + config.client_ca_file + ": " + tls_take_error_text();
      return result;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
    if (names == nullptr) {
      result.error = "client_ca_file " + config.client_ca_file + ": no CA certificates (" +
                     tls_take_error_text() + ")";
      return result;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    // Request, verify, but never fail the handshake: the result is recorded
    // (SSL_get_verify_result) and the gateway answers 401/403 per API.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    self->requests_client_cert_ = true;
  }

  result.context = std::move(self);
  return result;
}

TlsServerContext::~TlsServerContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

std::string TlsServerContext::generate_ticket_key(size_t bytes) {
  std::string key(bytes == 48 ? 48 : 80, '\0');
  RAND_bytes(reinterpret_cast<uint8_t*>(key.data()), key.size());
  return key;
}

int TlsServerContext::alpn_select(SSL*, const uint8_t** out, uint8_t* out_len,
                                  const uint8_t* in, unsigned in_len, void* arg) {
  auto* self = static_cast<TlsServerContext*>(arg);
  if (self->enable_http2_) {
    if (const uint8_t* p = find_alpn(in, in_len, kAlpnH2, sizeof(kAlpnH2))) {
      *out = p;
      *out_len = sizeof(kAlpnH2);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  if (const uint8_t* p = find_alpn(in, in_len, kAlpnHttp11, sizeof(kAlpnHttp11))) {
    *out = p;
    *out_len = sizeof(kAlpnHttp11);
    return SSL_TLSEXT_ERR_OK;
  }
  // No common protocol: carry on without ALPN; the connection speaks HTTP/1.1.
  return SSL_TLSEXT_ERR_NOACK;
}

int TlsServerContext::ticket_key_callback(SSL* ssl, uint8_t* key_name, uint8_t* iv,
                                          EVP_CIPHER_CTX* cipher_ctx, HMAC_CTX* hmac_ctx,
                                          int encrypt) {
  auto* self = static_cast<TlsServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (encrypt) {
    const TicketKey& k = self->ticket_keys_.front();
    std::memcpy(key_name, k.name, 16);
    if (RAND_bytes(iv, EVP_CIPHER_iv_length(k.cipher)) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher_ctx, k.cipher, nullptr,
                           reinterpret_cast<const uint8_t*>(k.aes_key.data()), iv) != 1) {
      return -1;
    }
    if (HMAC_Init_ex(hmac_ctx, k.hmac_secret.data(), k.hmac_secret.size(), EVP_sha256(),
                     nullptr) != 1) {
      return -1;
    }
    return 1;
  }
  for (size_t i = 0; i < self->ticket_keys_.size(); ++i) {
    const TicketKey& k = self->ticket_keys_[i];
    if (std::memcmp(key_name, k.name, 16) != 0) continue;
    if (HMAC_Init_ex(hmac_ctx, k.hmac_secret.data(), k.hmac_secret.size(), EVP_sha256(),
                     nullptr) != 1) {
      return -1;
    }
    if (EVP_DecryptInit_ex(cipher_ctx, k.cipher, nullptr,
                           reinterpret_cast<const uint8_t*>(k.aes_key.data()), iv) != 1) {
      return -1;
    }
    return i == 0 ? 1 : 2;  // 2: valid but old key, issue a fresh ticket
  }
  return 0;  // unknown key: full handshake
}

}  // namespace ringway
