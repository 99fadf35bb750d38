#include "tls/tls_context.h"

#include <cerrno>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <string_view>

// BoringSSL's stack.h trips -Wignored-qualifiers in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#ifndef OPENSSL_IS_BORINGSSL
#include <openssl/core_names.h>  // OpenSSL 3: OSSL_MAC_PARAM_* for the ticket HMAC
#include <openssl/params.h>
#endif
#pragma GCC diagnostic pop

namespace ringway {
namespace {

constexpr unsigned char kSessionIdContext[] = "ringway";
// TLS 1.2 suites: forward-secret key exchange with an AEAD only (RFC 9113 §9.2.2 and
// Mozilla "intermediate"); TLS 1.3 suites are all AEAD and keep the library default.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr uint8_t kAlpnH2[] = {'h', '2'};
constexpr uint8_t kAlpnHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};

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

std::string tls_file_error(const char* what, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::string(what) + " " + path + ": " + std::strerror(errno);
  std::fclose(f);
  return {};
}

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
  std::unique_ptr<TlsServerContext> self(new TlsServerContext());
  result.error = load(self.get(), config, config.cert_file, config.key_file);
  if (!result.error.empty()) return result;
  for (const TlsSniCertConfig& sni : config.sni_certs) {
    SniEntry entry;
    for (const std::string& name : sni.server_names) {
      std::string lower = name;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      entry.names.push_back(std::move(lower));
    }
    entry.context.reset(new TlsServerContext());
    // Every SNI context is configured like the default one (ALPN, tickets, client
    // certificates): after the switch the library consults the new context.
    result.error = load(entry.context.get(), config, sni.cert_file, sni.key_file);
    if (!result.error.empty()) return result;
    self->sni_.push_back(std::move(entry));
  }
  if (!self->sni_.empty()) {
    SSL_CTX_set_tlsext_servername_callback(self->ctx_, &TlsServerContext::select_server_name);
    SSL_CTX_set_tlsext_servername_arg(self->ctx_, self.get());
  }
  result.context = std::move(self);
  return result;
}

std::string TlsServerContext::parse_ticket_keys(const std::vector<std::string>& keys,
                                                std::vector<TicketKey>* out) {
  out->clear();
  for (const std::string& key : keys) {
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
      return "ticket key " + std::to_string(out->size()) + ": " + std::to_string(key.size()) +
             " bytes, expected 48 or 80";
    }
    std::memcpy(k.name, key.data(), 16);
    out->push_back(std::move(k));
  }
  return {};
}

std::string TlsServerContext::load(TlsServerContext* self, const TlsServerConfig& config,
                                   const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  if (std::string e = tls_file_error("cert_file", cert_file); !e.empty()) return e;
  if (std::string e = tls_file_error("key_file", key_file); !e.empty()) return e;
  if (!config.client_ca_file.empty()) {
    if (std::string e = tls_file_error("client_ca_file", config.client_ca_file); !e.empty()) {
      return e;
    }
  }

  self->enable_http2_ = config.enable_http2;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return "SSL_CTX_new: " + tls_take_error_text();
  self->ctx_ = ctx;

  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return "cert_file " + cert_file + ": " + tls_take_error_text();
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // The library checks the key against the leaf here already; name that case.
    unsigned long code = ERR_peek_error();
    bool mismatch = ERR_GET_LIB(code) == ERR_LIB_X509 &&
                    (ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH ||
                     ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH);
    return "key_file " + key_file +
           (mismatch ? " does not match cert_file " + cert_file : std::string()) + ": " +
           tls_take_error_text();
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return "key_file " + key_file + " does not match cert_file " + cert_file + ": " +
           tls_take_error_text();
  }

  int min = config.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);

  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return "cipher list: " + tls_take_error_text();
  }
  long options = SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_NO_RENEGOTIATION
  options |= SSL_OP_NO_RENEGOTIATION;  // OpenSSL; BoringSSL servers never renegotiate
#endif
  SSL_CTX_set_options(ctx, options);
  // NO_AUTO_CHAIN: send exactly the chain in cert_file. BoringSSL's default; OpenSSL
  // would otherwise complete the chain from the verify store (client_ca_file).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);

  // Stateless resumption only: no server-side cache (it would be per shard anyway).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);

  SSL_CTX_set_alpn_select_cb(ctx, &TlsServerContext::alpn_select, self);

  if (std::string e = parse_ticket_keys(config.ticket_keys, &self->ticket_keys_); !e.empty()) {
    return e;
  }
  if (!self->ticket_keys_.empty()) {
    SSL_CTX_set_app_data(ctx, self);
#ifdef OPENSSL_IS_BORINGSSL
    SSL_CTX_set_tlsext_ticket_key_cb(ctx, &TlsServerContext::ticket_key_callback);
#else
    // OpenSSL 3: same callback contract, EVP_MAC_CTX instead of HMAC_CTX.
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TlsServerContext::ticket_key_callback);
#endif
  } else if (config.ticket_keys_disabled) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }

  if (!config.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca_file.c_str(), nullptr) != 1) {
      return "client_ca_file " + config.client_ca_file + ": " + tls_take_error_text();
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
    if (names == nullptr) {
      return "client_ca_file " + config.client_ca_file + ": no CA certificates (" +
             tls_take_error_text() + ")";
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    // Request, verify, but never fail the handshake: the result is recorded
    // (SSL_get_verify_result) and the gateway answers 401/403 per API.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    self->requests_client_cert_ = true;
  }
  return {};
}

bool TlsServerContext::set_ticket_keys(const std::vector<std::string>& keys) {
  if (ticket_keys_.empty() || keys.empty()) return false;
  std::vector<TicketKey> parsed;
  if (!parse_ticket_keys(keys, &parsed).empty()) return false;
  for (SniEntry& entry : sni_) entry.context->set_ticket_keys(keys);
  ticket_keys_ = std::move(parsed);
  return true;
}

int TlsServerContext::select_server_name(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<TlsServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  std::string lower(name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!lower.empty() && lower.back() == '.') lower.pop_back();  // "host." is "host"
  std::string_view parent;
  if (size_t dot = lower.find('.'); dot != std::string::npos) {
    parent = std::string_view(lower).substr(dot);  // ".example.com"
  }
  for (const SniEntry& entry : self->sni_) {
    for (const std::string& pattern : entry.names) {
      bool match = pattern == lower ||
                   (pattern.size() > 2 && pattern[0] == '*' && !parent.empty() &&
                    std::string_view(pattern).substr(1) == parent);
      if (match) {
        SSL_set_SSL_CTX(ssl, entry.context->ctx_);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;  // unknown name: the default certificate
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

// Keys the ticket MAC: HMAC-SHA256 with |secret|, in either library (TicketHmacCtx).
bool TlsServerContext::init_ticket_hmac(TicketHmacCtx* hmac_ctx, const std::string& secret) {
#ifdef OPENSSL_IS_BORINGSSL
  return HMAC_Init_ex(hmac_ctx, secret.data(), secret.size(), EVP_sha256(), nullptr) == 1;
#else
  // OSSL_PARAM takes non-const pointers but only reads through them here.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hmac_ctx, params) == 1;
#endif
}

int TlsServerContext::ticket_key_callback(SSL* ssl, uint8_t* key_name, uint8_t* iv,
                                          EVP_CIPHER_CTX* cipher_ctx, TicketHmacCtx* hmac_ctx,
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
    if (!init_ticket_hmac(hmac_ctx, k.hmac_secret)) return -1;
    return 1;
  }
  for (size_t i = 0; i < self->ticket_keys_.size(); ++i) {
    const TicketKey& k = self->ticket_keys_[i];
    if (std::memcmp(key_name, k.name, 16) != 0) continue;
    if (!init_ticket_hmac(hmac_ctx, k.hmac_secret)) return -1;
    if (EVP_DecryptInit_ex(cipher_ctx, k.cipher, nullptr,
                           reinterpret_cast<const uint8_t*>(k.aes_key.data()), iv) != 1) {
      return -1;
    }
#ifdef OPENSSL_IS_BORINGSSL
    return i == 0 ? 1 : 2;  // 2: valid but old key, issue a fresh ticket
#else
    // OpenSSL sends no new TLS 1.3 ticket after a resumption unless asked to renew;
    // BoringSSL always does. Renewing keeps the two builds alike (clients that use a
    // ticket once can resume again).
    return 2;
#endif
  }
  return 0;  // unknown key: full handshake
}

TlsClientContextResult TlsClientContext::create(const TlsClientConfig& config) {
  TlsClientContextResult result;
  ERR_clear_error();
  std::unique_ptr<TlsClientContext> self(new TlsClientContext());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    result.error = "SSL_CTX_new: " + tls_take_error_text();
    return result;
  }
  self->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    result.error = "cipher list: " + tls_take_error_text();
    return result;
  }
  // Client certificate chain exactly as in cert_file (see the server context).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);

  self->verify_ = !config.insecure_skip_verify;
  if (self->verify_) {
    const std::string& ca = config.ca_file.empty() ? std::string(kSystemCaFile) : config.ca_file;
    const char* what = config.ca_file.empty() ? "system trust store" : "upstream_ca_file";
    if (std::string e = tls_file_error(what, ca); !e.empty()) {
      result.error = e;
      return result;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
      result.error = std::string(what) + " " + ca + ": " + tls_take_error_text();
      return result;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  if (!config.cert_file.empty() || !config.key_file.empty()) {
    if (config.cert_file.empty() || config.key_file.empty()) {
      result.error = "upstream_cert_file and upstream_key_file go together";
      return result;
    }
    if (std::string e = tls_file_error("upstream_cert_file", config.cert_file); !e.empty()) {
      result.error = e;
      return result;
    }
    if (std::string e = tls_file_error("upstream_key_file", config.key_file); !e.empty()) {
      result.error = e;
      return result;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1) {
      result.error = "upstream_cert_file " + config.cert_file + ": " + tls_take_error_text();
      return result;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      unsigned long code = ERR_peek_error();
      bool mismatch = ERR_GET_LIB(code) == ERR_LIB_X509 &&
                      (ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH ||
                       ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH);
      result.error = "upstream_key_file " + config.key_file +
                     (mismatch ? " does not match upstream_cert_file " + config.cert_file
                               : std::string()) +
                     ": " + tls_take_error_text();
      return result;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      result.error = "upstream_key_file " + config.key_file + " does not match upstream_cert_file " +
                     config.cert_file + ": " + tls_take_error_text();
      return result;
    }
  }

  // ALPN: the pool decides the protocol before connecting, so exactly one is offered.
  static constexpr uint8_t kOfferH2[] = {2, 'h', '2'};
  static constexpr uint8_t kOfferHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (config.offer_h2) {
    SSL_CTX_set_alpn_protos(ctx, kOfferH2, sizeof(kOfferH2));
  } else {
    SSL_CTX_set_alpn_protos(ctx, kOfferHttp11, sizeof(kOfferHttp11));
  }
  // Client-side resumption: new sessions go to the connection's TlsClientSessionCache
  // (the SSL's app data), not to a library-wide store.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* session) {
    auto* cache = static_cast<TlsClientSessionCache*>(SSL_get_app_data(ssl));
    if (cache == nullptr) return 0;
    cache->store(session);
    return 1;  // the cache keeps the reference
  });
  result.context = std::move(self);
  return result;
}

TlsClientSessionCache::~TlsClientSessionCache() {
  if (latest_ != nullptr) SSL_SESSION_free(latest_);
}

void TlsClientSessionCache::store(SSL_SESSION* session) {
  if (latest_ != nullptr) SSL_SESSION_free(latest_);
  latest_ = session;
}

TlsClientContext::~TlsClientContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

std::string tls_library_name() {
#ifdef OPENSSL_IS_BORINGSSL
  return "BoringSSL";
#else
  return OpenSSL_version(OPENSSL_VERSION);
#endif
}

}  // namespace ringway
