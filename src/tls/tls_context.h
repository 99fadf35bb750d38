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
// a key other than [0] is accepted and re-issued under [0]. Rotation: each shard
// installs a new list with set_ticket_keys() on its own thread (the keys come from
// tls/ticket_key_schedule.h, identical on every shard). An empty list leaves the
// library's own random per-context key: resumption then only works on the shard
// that issued the ticket.
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

// A certificate served to clients whose SNI matches one of |server_names| (exact,
// or "*.example.com" for one label under example.com). Case-insensitive.
struct TlsSniCertConfig {
  std::vector<std::string> server_names;
  std::string cert_file;
  std::string key_file;
};

struct TlsServerConfig {
  std::string cert_file;       // PEM: leaf first, then intermediates
  std::string key_file;        // PEM: RSA or ECDSA private key matching the leaf
  std::string client_ca_file;  // PEM CA bundle; non-empty = request client certificates
  TlsVersion min_version = TlsVersion::kTls12;
  bool enable_http2 = true;             // ALPN offers "h2" before "http/1.1"
  std::vector<std::string> ticket_keys;  // see the format above; 48 or 80 bytes each
  std::vector<TlsSniCertConfig> sni_certs;  // tried in order; no match -> cert_file
  // With no ticket_keys: true turns tickets off entirely (no resumption); false
  // leaves the library's per-context random key (resumption on the same shard only).
  bool ticket_keys_disabled = false;
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

  // Replaces the ticket keys (same format and order as TlsServerConfig::ticket_keys)
  // here and in the SNI contexts. Call on the owning shard's thread; connections
  // already established are unaffected. Returns false (keeping the old keys) when a
  // key has a bad size or the context was created without keys.
  bool set_ticket_keys(const std::vector<std::string>& keys);

 private:
  struct TicketKey {
    uint8_t name[16];
    std::string hmac_secret;
    std::string aes_key;
    const EVP_CIPHER* cipher;
  };

  struct SniEntry {
    std::vector<std::string> names;  // lower-case; "*.x" = wildcard
    std::unique_ptr<TlsServerContext> context;
  };

  TlsServerContext() = default;
  static std::string load(TlsServerContext* self, const TlsServerConfig& config,
                          const std::string& cert_file, const std::string& key_file);
  static std::string parse_ticket_keys(const std::vector<std::string>& keys,
                                       std::vector<TicketKey>* out);
  static int select_server_name(SSL* ssl, int* alert, void* arg);
  static int alpn_select(SSL* ssl, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                         unsigned in_len, void* arg);
  // The ticket HMAC context: BoringSSL hands the callback an HMAC_CTX; OpenSSL 3
  // deprecates HMAC_CTX and SSL_CTX_set_tlsext_ticket_key_cb, so there the callback is
  // installed with SSL_CTX_set_tlsext_ticket_key_evp_cb and gets an EVP_MAC_CTX.
#ifdef OPENSSL_IS_BORINGSSL
  using TicketHmacCtx = HMAC_CTX;
#else
  using TicketHmacCtx = EVP_MAC_CTX;
#endif
  static bool init_ticket_hmac(TicketHmacCtx* hmac_ctx, const std::string& secret);
  static int ticket_key_callback(SSL* ssl, uint8_t* key_name, uint8_t* iv,
                                 EVP_CIPHER_CTX* cipher_ctx, TicketHmacCtx* hmac_ctx,
                                 int encrypt);

  SSL_CTX* ctx_ = nullptr;
  bool enable_http2_ = true;
  bool requests_client_cert_ = false;
  std::vector<TicketKey> ticket_keys_;
  std::vector<SniEntry> sni_;
};

// Client-side (upstream) TLS context: trust anchors, optional client certificate,
// ALPN offer. One per shard and API with an https:// target.
struct TlsClientConfig {
  std::string ca_file;  // PEM bundle; empty = the system trust store
  bool insecure_skip_verify = false;
  std::string cert_file;  // client certificate chain for upstream mTLS (optional)
  std::string key_file;
  bool offer_h2 = false;  // ALPN offers only "h2" (true) or only "http/1.1"
};

class TlsClientContext;

// The newest session (ticket) an upstream gave us, offered by the next connection to
// the same upstream so it can skip the full handshake. One per upstream and shard,
// never shared across threads; a resumed connection's new ticket replaces it.
class TlsClientSessionCache {
 public:
  TlsClientSessionCache() = default;
  ~TlsClientSessionCache();
  TlsClientSessionCache(const TlsClientSessionCache&) = delete;
  TlsClientSessionCache& operator=(const TlsClientSessionCache&) = delete;

  SSL_SESSION* latest() const { return latest_; }
  // Takes ownership of |session| (one reference).
  void store(SSL_SESSION* session);

 private:
  SSL_SESSION* latest_ = nullptr;
};

struct TlsClientContextResult {
  std::unique_ptr<TlsClientContext> context;
  std::string error;  // names the key's file and the reason
};

class TlsClientContext {
 public:
  // The system trust store used when ca_file is empty (Debian's bundle).
  static constexpr const char* kSystemCaFile = "/etc/ssl/certs/ca-certificates.crt";

  static TlsClientContextResult create(const TlsClientConfig& config);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  bool verify() const { return verify_; }

 private:
  TlsClientContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = true;
};

// "WHAT PATH: reason" when |path| cannot be opened for reading, else empty. Checked
// before the library reads a file, so a bad path gets errno's words, not a PEM error.
std::string tls_file_error(const char* what, const std::string& path);

// Text of the oldest queued library error (and clears the queue); "unknown" if none.
std::string tls_take_error_text();

// The TLS library the gateway was built with ("BoringSSL", "OpenSSL 3.0.x ...").
std::string tls_library_name();

}  // namespace ringway
