#include "tls/tls_session.h"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include <arpa/inet.h>

// BoringSSL's stack.h trips -Wignored-qualifiers in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#pragma GCC diagnostic pop

#include "tls/tls_context.h"

namespace ringway {

TlsSession::TlsSession(const TlsServerContext& context, TlsLimits limits) : limits_(limits) {
  ssl_ = SSL_new(context.native());
  init_bios();
  SSL_set_accept_state(ssl_);
}

TlsSession::TlsSession(const TlsClientContext& context, TlsLimits limits,
                       const std::string& server_name, TlsClientSessionCache* cache)
    : limits_(limits), client_(true) {
  ssl_ = SSL_new(context.native());
  init_bios();
  SSL_set_connect_state(ssl_);
  if (cache != nullptr) {
    SSL_set_app_data(ssl_, cache);
    if (cache->latest() != nullptr) SSL_set_session(ssl_, cache->latest());
  }
  in6_addr ip6;
  in_addr ip4;
  bool is_ip = inet_pton(AF_INET, server_name.c_str(), &ip4) == 1 ||
               inet_pton(AF_INET6, server_name.c_str(), &ip6) == 1;
  // RFC 6066: SNI carries host names only, never address literals.
  if (!is_ip && !server_name.empty()) SSL_set_tlsext_host_name(ssl_, server_name.c_str());
  if (context.verify() && !server_name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, server_name.data(), server_name.size());
    }
  }
}

void TlsSession::start() {
  if (client_ && state_ == TlsHandshakeState::kInProgress) drive_handshake();
}

void TlsSession::init_bios() {
  // Allocation failure aborts (STYLE.md §9 error policy).
  if (ssl_ == nullptr) std::abort();
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (rbio_ == nullptr || wbio_ == nullptr) std::abort();
  // An empty read BIO means "retry later", not EOF.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
}

TlsSession::~TlsSession() {
  // Upstream connections usually end without a close_notify exchange (pool closes,
  // idle timeouts); OpenSSL would then mark the session unresumable, which would
  // spoil the TlsClientSessionCache. A connection that failed keeps that effect.
  if (client_ && state_ == TlsHandshakeState::kDone) {
    SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_SENT_SHUTDOWN);
  }
  SSL_free(ssl_);
}

void TlsSession::fail(const char* where, int ssl_error) {
  state_ = TlsHandshakeState::kFailed;
  error_ = where;
  error_ += ": ";
  if (ssl_error == SSL_ERROR_SSL) {
    error_ += tls_take_error_text();
  } else {
    error_ += "SSL_get_error " + std::to_string(ssl_error);
    ERR_clear_error();
  }
  if (client_) {
    // Say why the upstream's certificate was rejected (wrong CA, name mismatch, ...).
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      verify_result_ = verify;
      error_ += " (certificate: ";
      error_ += X509_verify_cert_error_string(verify);
      error_ += ")";
    }
  }
}

size_t TlsSession::feed_ciphertext(const uint8_t* data, size_t len) {
  if (state_ == TlsHandshakeState::kFailed) return 0;
  size_t pending = BIO_ctrl_pending(rbio_);
  size_t room = limits_.ciphertext_in_bytes_max > pending
                    ? limits_.ciphertext_in_bytes_max - pending : 0;
  size_t n = std::min({len, room, size_t{INT_MAX}});
  if (n > 0) BIO_write(rbio_, data, static_cast<int>(n));
  if (state_ == TlsHandshakeState::kInProgress) drive_handshake();
  return n;
}

void TlsSession::drive_handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    state_ = TlsHandshakeState::kDone;
    record_peer();
    auto* cache = static_cast<TlsClientSessionCache*>(SSL_get_app_data(ssl_));
    if (client_ && cache != nullptr && SSL_version(ssl_) <= TLS1_2_VERSION) {
      // TLS 1.2: the session is complete now, and OpenSSL renews a resumed session's
      // ticket in place without the new-session callback. (TLS 1.3 tickets arrive
      // after the handshake, through the callback.)
      cache->store(SSL_get1_session(ssl_));
    }
    return;
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  fail("handshake", err);
}

void TlsSession::record_peer() {
  if (client_) return;  // an upstream's certificate was checked during the handshake
#ifdef OPENSSL_IS_BORINGSSL
  X509* cert = SSL_get_peer_certificate(ssl_);  // a new reference
#else
  // OpenSSL 3's name for the same call (the old one is a deprecated alias).
  X509* cert = SSL_get1_peer_certificate(ssl_);
#endif
  if (cert == nullptr) {
    peer_cert_state_ = TlsPeerCertState::kNone;
    verify_result_ = X509_V_OK;
    return;
  }
  verify_result_ = SSL_get_verify_result(ssl_);
  peer_cert_state_ = verify_result_ == X509_V_OK ? TlsPeerCertState::kVerified
                                                 : TlsPeerCertState::kUnverified;
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    peer_sha256_.resize(md_len * 2);
    for (unsigned i = 0; i < md_len; ++i) {
      peer_sha256_[2 * i] = kHex[md[i] >> 4];
      peer_sha256_[2 * i + 1] = kHex[md[i] & 0xf];
    }
  }
  BIO* mem = BIO_new(BIO_s_mem());
  if (mem != nullptr) {
    X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* raw = nullptr;
    long raw_len = BIO_get_mem_data(mem, &raw);
    if (raw_len > 0) peer_subject_.assign(raw, static_cast<size_t>(raw_len));
    BIO_free(mem);
  }
  X509_free(cert);
}

TlsReadResult TlsSession::read(uint8_t* out, size_t cap) {
  TlsReadResult result;
  if (state_ != TlsHandshakeState::kDone) {
    result.status = state_ == TlsHandshakeState::kFailed ? TlsReadStatus::kError
                                                         : TlsReadStatus::kWantMore;
    return result;
  }
  ERR_clear_error();
  int rc = SSL_read(ssl_, out, static_cast<int>(std::min(cap, size_t{INT_MAX})));
  if (rc > 0) {
    result.bytes = static_cast<size_t>(rc);
    result.status = TlsReadStatus::kOk;
    return result;
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    result.status = TlsReadStatus::kWantMore;
  } else if (err == SSL_ERROR_ZERO_RETURN) {
    result.status = TlsReadStatus::kClosed;
  } else {
    fail("read", err);
    result.status = TlsReadStatus::kError;
  }
  return result;
}

size_t TlsSession::write_plaintext(const uint8_t* data, size_t len) {
  if (state_ != TlsHandshakeState::kDone || len == 0) return 0;
  size_t pending = BIO_ctrl_pending(wbio_);
  size_t room = limits_.ciphertext_out_bytes_max > pending
                    ? limits_.ciphertext_out_bytes_max - pending : 0;
  size_t n = std::min({len, room, size_t{INT_MAX}});
  if (n == 0) return 0;
  ERR_clear_error();
  int rc = SSL_write(ssl_, data, static_cast<int>(n));
  if (rc <= 0) {
    fail("write", SSL_get_error(ssl_, rc));
    return 0;
  }
  return static_cast<size_t>(rc);
}

void TlsSession::shutdown() {
  if (state_ != TlsHandshakeState::kDone) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

size_t TlsSession::ciphertext_pending() const { return BIO_ctrl_pending(wbio_); }

size_t TlsSession::take_ciphertext(uint8_t* out, size_t cap) {
  int rc = BIO_read(wbio_, out, static_cast<int>(std::min(cap, size_t{INT_MAX})));
  return rc > 0 ? static_cast<size_t>(rc) : 0;
}

std::string_view TlsSession::alpn() const {
  const uint8_t* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), len};
}

TlsAppProtocol TlsSession::app_protocol() const {
  return alpn() == "h2" ? TlsAppProtocol::kHttp2 : TlsAppProtocol::kHttp1;
}

bool TlsSession::session_resumed() const { return SSL_session_reused(ssl_) == 1; }

const char* TlsSession::verify_result_text() const {
  if (peer_cert_state_ == TlsPeerCertState::kNone) return "no certificate";
  return X509_verify_cert_error_string(verify_result_);
}

uint16_t TlsSession::protocol_version() const {
  return static_cast<uint16_t>(SSL_version(ssl_));
}

}  // namespace ringway
