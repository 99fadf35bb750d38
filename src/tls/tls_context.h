#pragma once
// Server-side TLS context: certificate chain + key, minimum version, ALPN, session
// tickets with caller-supplied keys, optional client-certificate requests.
//
// One TlsServerContext per shard (BoringSSL objects are shard-owned, DESIGN.md §3.1);
// every shard builds its own from the same TlsServerConfig. Because the ticket keys
// come from the config rather than from the library's per-context random key, a
// ticket issued by one shard resumes on any other.
//
// Ticket key format (same as nghttpx's tls-ticket-key-file entries): each key is raw
// bytes, either
//   48 bytes = 16 key name | 16 HMAC-SHA256 secret | 16 AES-128-CBC key, or
//   80 bytes = 16 key name | 32 HMAC-SHA256 secret | 32 AES-256-CBC key.
// ticket_keys[0] encrypts new tickets; every listed key decrypts. A ticket sealed with
// a key other than [0] is accepted and re-issued under [0]. Rotation: the control
// thread prepends a fresh key (generate_ticket_key()), keeps the previous ones for a
// ticket lifetime, drops the oldest, and hands the new list to every shard, which
// builds a new context for new connections (old connections keep their context).
// An empty list leaves the library's own random per-context key: resumption then
// only works on the shard that issued the ticket.
//
// Codec module: no I/O, no sockets (STYLE.md §9).

#include <memory>
#include <string>
#include <vector>

// BoringSSL's stack.h trips -Wignored-qualifiers in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#pragma GCC diagnostic pop

namespace ringway {

enum class TlsVersion { kTls12, kTls13 };

struct TlsServerConfig {
  std::string cert_file;       // PEM: leaf first, then intermediates
  std::string key_file;        // PEM: RSA or ECDSA private key matching the leaf
  std::string client_ca_file;  // PEM CA bundle; non-empty = request client certificates
  TlsVersion min_version = TlsVersion::kTls12;
  bool enable_http2 = true;             // ALPN offers "h2" before "http/1.1"
  std::vector<std::string> ticket_keys;  // see the format above; 48 or 80 bytes each
};

class TlsServerContext;

struct TlsServerContextResult {
  std::unique_ptr<TlsServerContext> context;  // null when error is non-empty
  std::string error;  // names the file and the reason
};

class TlsServerContext {
 public:
  static TlsServerContextResult create(const TlsServerConfig& config);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  bool enable_http2() const { return enable_http2_; }
  bool requests_client_cert() const { return requests_client_cert_; }

  // Fresh random ticket key material (48 or 80 bytes) for the control thread.
  static std::string generate_ticket_key(size_t bytes = 80);

 private:
  struct TicketKey {
    uint8_t name[16];
    std::string hmac_secret;
    std::string aes_key;
    const EVP_CIPHER* cipher;
  };

  TlsServerContext() = default;
  static int alpn_select(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                         unsigned in_len, void* arg);
  static int ticket_key_callback(SSL* ssl, uint8_t* key_name, uint8_t* iv,
                                 EVP_CIPHER_CTX* cipher_ctx, HMAC_CTX* hmac_ctx, int encrypt);

  SSL_CTX* ctx_ = nullptr;
  bool enable_http2_ = true;
  bool requests_client_cert_ = false;
  std::vector<TicketKey> ticket_keys_;
};

// Text of the oldest queued library error (and clears the queue); "unknown" if none.
std::string tls_take_error_text();

}  // namespace ringway
