#pragma once
// A TCP connection on the shard's ring: one multishot recv into provided buffers, one
// send in flight at a time with a queue of slices behind it (short sends resumed),
// optional non-blocking connect, and a close that waits for every operation in flight
// before the fd is closed and the owner is told it may free the object.
//
// With use_tls() the connection carries TLS: received ciphertext goes through the
// TlsSession (memory BIOs; the library never sees the socket) and the handler gets
// plaintext in heap blocks; written slices queue as plaintext and are encrypted at
// the end of the turn into records sized by TlsRecordPolicy. Credits then fire when
// the ciphertext that carried the slice has been sent, so back-pressure still
// follows the socket.

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include "io/loop.h"
#include "mem/memory_budget.h"
#include "mem/slice.h"
#include "net/byte_sink.h"

namespace ringway {

class TlsSession;

// Dynamic TLS record sizing (as nghttpx and h2o do): records of about one TCP
// segment until |warmup_bytes| have been written and again after |idle_ms| without
// output, so a client can decrypt the first bytes of a response without waiting for
// a 16 KiB record; full-size records for bulk transfers.
struct TlsRecordPolicy {
  uint32_t warmup_bytes = 1048576;
  uint32_t idle_ms = 1000;
};

class TcpConn final : public ByteSink, private Flushable, private Deferred {
 public:
  class Handler {
   public:
    // Received bytes (inside a receive buffer: Slice::from_recv may reference them).
    // Returns how many were consumed; fewer than |len| means the handler paused input
    // (pause_recv()), and the rest is delivered again after resume_recv().
    virtual size_t on_recv(const char* data, size_t len) = 0;
    // The peer closed its side (|error| == 0) or receiving failed (-errno).
    virtual void on_recv_end(int error) = 0;
    // A queued slice written with |credit_id| != 0 has been fully sent.
    virtual void on_credit(uint32_t credit_id, uint32_t bytes) { (void)credit_id; (void)bytes; }
    // The send queue dropped to empty after having been above the high watermark.
    virtual void on_send_drained() {}
    // Called at the end of the turn before the send is submitted: produce output.
    virtual void on_before_flush() {}
    // Writing failed; the connection is unusable (close it).
    virtual void on_send_error(int error) = 0;
    // Result of connect(): 0 or -errno. With TLS: reported when the handshake is
    // done (-EPROTO when it failed; the connection is then closing).
    virtual void on_connected(int error) { (void)error; }
    // Server-side TLS: the handshake finished (|ok|) or failed (the connection is
    // then closing). ALPN and the peer certificate are in tls().
    virtual void on_tls_handshake(bool ok) { (void)ok; }
    // The fd is closed and nothing is in flight: the owner may free everything now.
    virtual void on_closed() = 0;

   protected:
    ~Handler() = default;
  };

  TcpConn(Loop* loop, Handler* handler);
  ~TcpConn();
  TcpConn(const TcpConn&) = delete;
  TcpConn& operator=(const TcpConn&) = delete;

  // Takes ownership of an accepted (or freshly created) non-blocking socket.
  void attach(int fd);
  // Creates a socket and connects it to |addr|; on_connected reports the result.
  // Returns -errno when the socket cannot even be created.
  int connect(const sockaddr* addr, socklen_t len);

  // Runs the connection through |session| (see the top of this file). A server
  // session: call before start_recv(). A client session: before connect().
  void use_tls(std::unique_ptr<TlsSession> session, TlsRecordPolicy policy);

  // Output limits. A handler producing output (an HTTP/2 session) holds its frames
  // back while output_full(). With |hold_input|, above |queue_bytes| queued input is
  // held back too (stashed, then the receive is cancelled) until the queue is down to
  // half of it, so a client that does not read cannot make us produce output (PING
  // and SETTINGS acknowledgements, replies) without bound. Not for upstreams: a
  // server that echoes would deadlock with us (it stops reading until we read it).
  // With bytes queued and none sent for |timeout_ms|, on_send_error(-ETIMEDOUT).
  // |budget| (may be null) is charged with the bytes queued and stashed.
  void set_output_limits(size_t queue_bytes, uint32_t timeout_ms, MemoryBudget* budget,
                         bool hold_input);
  // More than the queue limit is queued: a producer should hold further output.
  bool output_full() const override { return queued_bytes_ > send_queue_limit_; }
  const TlsSession* tls() const { return tls_.get(); }

  void start_recv();
  void pause_recv() override;
  void resume_recv() override;
  bool recv_paused() const { return paused_; }

  // Queues bytes; the send goes out at the end of the turn.
  void write(Slice slice, uint32_t credit_id = 0) override;
  // Copies |len| bytes into the queue (appending to the last heap block when it has
  // room and is not being sent).
  void write_copy(const char* data, size_t len) override;
  size_t queued_bytes() const override { return queued_bytes_; }
  // Requests on_send_drained() when the queue next becomes empty.
  void want_drain_notice() { drain_notice_ = true; }
  // Makes sure on_before_flush() runs at the end of this turn.
  void request_flush() override;

  // Flushes what is queued, then closes (lingering: our side is shut down for
  // writing and input is discarded until EOF or |linger_ms|).
  void close_after_flush(uint32_t linger_ms) override;
  // Closes now: pending output is dropped, operations in flight are cancelled.
  void abort() override;
  bool closing() const override { return closing_ != CloseState::Open; }
  int fd() const { return fd_; }

 private:
  enum class CloseState : uint8_t { Open, Flushing, Lingering, Closing, Closed };
  struct Piece {
    Slice slice;
    uint32_t credit_id;
    uint32_t credit_bytes;  // the slice's size when queued (it shrinks on short sends)
  };

  static void on_recv_complete(Op* op, int32_t res, uint32_t flags);
  static void on_send_complete(Op* op, int32_t res, uint32_t flags);
  static void on_connect_complete(Op* op, int32_t res, uint32_t flags);
  static void on_linger_timeout(Timer* timer);
  static void on_send_timeout(Timer* timer);
  bool input_held() const { return paused_ || backlogged_; }
  // Brings the budget's charge up to date with what is queued and stashed.
  void sync_charge();
  void check_backlog();

  // TLS, both directions.
  void tls_receive(const char* data, size_t len);
  HeapBlock* tls_rx_block();
  void tls_encrypt();
  void pull_ciphertext();
  void tls_handshake_finished();
  void tls_fail(const char* what);
  void tls_credit_sent(size_t bytes);

  void flush() override;
  void run_deferred() override;
  void arm_recv();
  // Hands received bytes (cleartext in a receive buffer, or TLS plaintext in
  // |block|) to the handler, or stashes them while input is paused.
  void deliver(const char* data, size_t len, HeapBlock* block);
  void stash(Slice bytes);
  void deliver_stash();
  void submit_send();
  void begin_close();
  void maybe_finish_close();

  Loop* loop_;
  Handler* handler_;
  int fd_ = -1;
  Op recv_op_;
  Op send_op_;
  Op connect_op_;
  Timer linger_timer_;
  Timer send_timer_;  // armed while output waits; checks for progress when it fires
  uint32_t ops_in_flight_ = 0;
  bool recv_armed_ = false;
  bool recv_wanted_ = false;  // receive should be running (start_recv called)
  bool paused_ = false;
  bool starving_ = false;
  bool send_in_flight_ = false;
  bool connected_ = false;
  bool drain_notice_ = false;
  bool closed_notified_ = false;
  CloseState closing_ = CloseState::Open;
  uint32_t linger_ms_ = 0;
  std::deque<Piece> queue_;
  size_t queued_bytes_ = 0;
  uint32_t pieces_in_flight_ = 0;
  std::deque<Slice> stash_;  // received but not consumed while paused
  size_t stashed_bytes_ = 0;
  // Output limits (set_output_limits); the defaults leave a connection unbounded
  // only until its owner sets them, which every owner does.
  size_t send_queue_limit_ = SIZE_MAX;
  uint32_t send_timeout_ms_ = 0;
  MemoryBudget* budget_ = nullptr;
  size_t charged_ = 0;
  uint64_t last_send_progress_ms_ = 0;
  bool backlogged_ = false;
  bool hold_input_when_full_ = false;

  // TLS state (tls_ null = cleartext).
  struct TlsCredit {
    uint64_t cipher_end;  // fires once this many ciphertext bytes have been sent
    uint32_t credit_id;
    uint32_t bytes;
  };
  std::unique_ptr<TlsSession> tls_;
  TlsRecordPolicy record_policy_;
  std::deque<Piece> plain_queue_;     // written, not yet encrypted
  std::deque<TlsCredit> tls_credits_;
  uint64_t cipher_queued_total_ = 0;  // ciphertext bytes ever queued
  uint64_t cipher_sent_total_ = 0;    // ciphertext bytes ever sent
  uint64_t record_warm_bytes_ = 0;    // plaintext written since the last idle period
  uint64_t last_plain_write_ms_ = 0;
  bool tls_handshake_reported_ = false;
  bool tls_close_notify_queued_ = false;
  bool tls_input_closed_ = false;  // close_notify received
  HeapBlock* tls_rx_block_ = nullptr;  // plaintext is decrypted into its free tail
  msghdr msg_{};
  static constexpr int kMaxIov = 64;
  iovec iov_[kMaxIov];
};

}  // namespace ringway
