#pragma once
// One server-side TLS connection as a pure codec over memory BIOs: the caller feeds
// received ciphertext and takes ciphertext to send; BoringSSL never sees a socket
// (DESIGN.md §3.4). No I/O here (STYLE.md §9).
//
//   feed_ciphertext()  -> drives the handshake; after it, read() yields plaintext
//   write_plaintext()  -> encrypts; take_ciphertext() yields the records to send
//
// Bounds (TlsLimits): unread received ciphertext is capped at ciphertext_in_bytes_max
// (feed_ciphertext accepts only what fits; the caller keeps the rest, i.e. stops
// reading the socket). Encrypted-but-not-taken output is capped at
// ciphertext_out_bytes_max (write_plaintext accepts only what fits). Received
// plaintext is not buffered here: read() decrypts straight into the caller's buffer,
// so at most one TLS record (16 KiB) of plaintext sits inside the library. Handshake
// flights are not capped by ciphertext_out_bytes_max (they are bounded by the
// certificate chain size).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// BoringSSL's stack.h trips -Wignored-qualifiers in C++.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <openssl/ssl.h>
#pragma GCC diagnostic pop

namespace ringway {

class TlsServerContext;
class TlsClientContext;
class TlsClientSessionCache;

struct TlsLimits {
  size_t ciphertext_in_bytes_max = 64 * 1024;
  size_t ciphertext_out_bytes_max = 64 * 1024;
};

// kFailed is also entered after the handshake when read()/write_plaintext() hit a fatal
// error; error() then says where ("handshake: ...", "read: ...", "write: ...").
enum class TlsHandshakeState { kInProgress, kDone, kFailed };

// What read() found.
enum class TlsReadStatus {
  kOk,        // bytes > 0 were produced
  kWantMore,  // no complete record buffered: feed more ciphertext
  kClosed,    // peer sent close_notify
  kError,     // fatal (bad record, renegotiation attempt, ...); see error()
};

struct TlsReadResult {
  size_t bytes = 0;
  TlsReadStatus status = TlsReadStatus::kWantMore;
};

enum class TlsPeerCertState {
  kNone,        // client sent no certificate (or none was requested)
  kVerified,    // chain verified against client_ca_file
  kUnverified,  // sent, but did not verify; verify_result() says why
};

enum class TlsAppProtocol { kHttp1, kHttp2 };

class TlsSession {
 public:
  // Server side: waits for the client's hello.
  TlsSession(const TlsServerContext& context, TlsLimits limits);
  // Client side: |server_name| is sent as SNI (unless it is an IP literal) and the
  // peer certificate must match it (DNS name or IP SAN) when the context verifies.
  // Call start() to produce the ClientHello.
  // |cache| (optional) offers its latest session for resumption and receives the
  // sessions this connection is given; it must outlive the TlsSession.
  TlsSession(const TlsClientContext& context, TlsLimits limits, const std::string& server_name,
             TlsClientSessionCache* cache = nullptr);
  ~TlsSession();

  // Client side: begins the handshake (output in take_ciphertext()).
  void start();
  bool is_client() const { return client_; }
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Buffers up to the in-cap of |data| and advances the handshake. Returns how many
  // bytes were accepted (may be < len when the cap is reached). Check
  // handshake_state() afterwards; handshake output appears in take_ciphertext().
  size_t feed_ciphertext(const uint8_t* data, size_t len);

  // Decrypts into |out|. Only meaningful once handshake_state() is kDone.
  TlsReadResult read(uint8_t* out, size_t cap);

  // Encrypts up to the out-cap's room of |data|; returns bytes accepted (0 when the
  // out buffer is full or the session is not ready/failed).
  size_t write_plaintext(const uint8_t* data, size_t len);

  // Queues a close_notify alert.
  void shutdown();

  size_t ciphertext_pending() const;
  size_t take_ciphertext(uint8_t* out, size_t cap);

  TlsHandshakeState handshake_state() const { return state_; }
  const std::string& error() const { return error_; }

  // After the handshake:
  std::string_view alpn() const;  // "" when none was negotiated
  TlsAppProtocol app_protocol() const;
  bool session_resumed() const;
  TlsPeerCertState peer_cert_state() const { return peer_cert_state_; }
  long verify_result() const { return verify_result_; }  // X509_V_* code
  const char* verify_result_text() const;
  const std::string& peer_cert_sha256() const { return peer_sha256_; }  // lower-case hex
  const std::string& peer_subject() const { return peer_subject_; }     // RFC 2253
  uint16_t protocol_version() const;  // TLS1_2_VERSION / TLS1_3_VERSION

  SSL* native_for_test() const { return ssl_; }

 private:
  void init_bios();
  void drive_handshake();
  void record_peer();
  void fail(const char* where, int ssl_error);

  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // ciphertext in (owned by ssl_)
  BIO* wbio_ = nullptr;  // ciphertext out (owned by ssl_)
  TlsLimits limits_;
  bool client_ = false;
  TlsHandshakeState state_ = TlsHandshakeState::kInProgress;
  TlsPeerCertState peer_cert_state_ = TlsPeerCertState::kNone;
  long verify_result_ = 0;
  std::string error_;
  std::string peer_sha256_;
  std::string peer_subject_;
};

}  // namespace ringway
