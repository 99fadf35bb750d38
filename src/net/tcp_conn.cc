#include "net/tcp_conn.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "base/log.h"
#include "tls/tls_session.h"

namespace ringway {
namespace {
// Received-but-unconsumed bytes kept while input is paused before the multishot recv
// is cancelled; paused connections are usually resumed within the same request.
constexpr size_t kStashLimitBytes = 65536;
// TLS: ciphertext queued for the socket before encryption waits for sends to finish
// (plaintext stays in its slices meanwhile, so upstream back-pressure still works).
constexpr size_t kTlsCipherQueueMax = 262144;
// Record payload sizes: one record per TCP segment (1460-byte MSS minus TCP options
// and record overhead) during warm-up, the protocol maximum for bulk.
constexpr size_t kTlsSmallRecord = 1300;
constexpr size_t kTlsFullRecord = 16384;
// Plaintext pieces at least this large are encrypted from where they are.
constexpr size_t kTlsInPlaceMin = 4096;

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
}  // namespace

TcpConn::TcpConn(Loop* loop, Handler* handler) : loop_(loop), handler_(handler) {
  recv_op_.complete = on_recv_complete;
  recv_op_.owner = this;
  send_op_.complete = on_send_complete;
  send_op_.owner = this;
  connect_op_.complete = on_connect_complete;
  connect_op_.owner = this;
  linger_timer_.callback = on_linger_timeout;
  linger_timer_.owner = this;
  send_timer_.callback = on_send_timeout;
  send_timer_.owner = this;
}

TcpConn::~TcpConn() {
  // The owner frees us only after on_closed(); anything else is a lifetime bug.
  RW_CHECK(fd_ < 0 && ops_in_flight_ == 0);
  loop_->disarm_timer(&linger_timer_);
  loop_->disarm_timer(&send_timer_);
  if (tls_rx_block_) heap_block_unref(tls_rx_block_);
}

void TcpConn::attach(int fd) {
  fd_ = fd;
  connected_ = true;
  set_nodelay(fd);
}

int TcpConn::connect(const sockaddr* addr, socklen_t len) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  fd_ = fd;
  set_nodelay(fd);
  ++ops_in_flight_;
  loop_->ring().connect(fd, addr, len, &connect_op_);
  return 0;
}

void TcpConn::on_connect_complete(Op* op, int32_t res, uint32_t) {
  auto* c = static_cast<TcpConn*>(op->owner);
  --c->ops_in_flight_;
  if (c->closing_ == CloseState::Open) {
    c->connected_ = res == 0;
    if (res == 0 && c->tls_) {
      // on_connected() waits for the end of the handshake.
      c->tls_->start();
      c->pull_ciphertext();
      if (c->tls_->handshake_state() == TlsHandshakeState::kFailed) {
        c->tls_fail("handshake start");
      } else {
        c->start_recv();
      }
    } else {
      c->handler_->on_connected(res);
    }
  }
  c->maybe_finish_close();
}

void TcpConn::use_tls(std::unique_ptr<TlsSession> session, TlsRecordPolicy policy) {
  tls_ = std::move(session);
  record_policy_ = policy;
}

void TcpConn::set_output_limits(size_t queue_bytes, uint32_t timeout_ms, MemoryBudget* budget,
                                bool hold_input) {
  send_queue_limit_ = queue_bytes;
  hold_input_when_full_ = hold_input;
  send_timeout_ms_ = timeout_ms;
  if (budget_ != budget) {
    if (budget_) budget_->release(charged_);
    charged_ = 0;
    budget_ = budget;
    sync_charge();
  }
}

void TcpConn::sync_charge() {
  if (!budget_) return;
  size_t held = queued_bytes_ + stashed_bytes_;
  if (held > charged_) {
    budget_->charge(held - charged_);
  } else {
    budget_->release(charged_ - held);
  }
  charged_ = held;
}

void TcpConn::check_backlog() {
  if (!backlogged_) {
    backlogged_ = hold_input_when_full_ && queued_bytes_ > send_queue_limit_;
  } else if (queued_bytes_ <= send_queue_limit_ / 2) {
    // Drained enough: take input again (at the end of the turn, as resume_recv does)
    // and let the handler produce the output it held back.
    backlogged_ = false;
    loop_->queue_deferred(this);
    loop_->queue_flush(this);
  }
}

void TcpConn::on_send_timeout(Timer* timer) {
  auto* c = static_cast<TcpConn*>(timer->owner);
  if (c->closing_ >= CloseState::Lingering) return;
  if (c->queue_.empty() && c->plain_queue_.empty() && !c->send_in_flight_) return;
  uint64_t now = c->loop_->now_ms();
  uint64_t idle = now - c->last_send_progress_ms_;
  if (idle < c->send_timeout_ms_) {
    c->loop_->arm_timer(&c->send_timer_, c->send_timeout_ms_ - idle);
    return;
  }
  // The peer has not taken a byte for send_timeout_ms: give up on it.
  if (c->closing_ == CloseState::Flushing) {
    c->begin_close();
    c->maybe_finish_close();
    return;
  }
  c->handler_->on_send_error(-ETIMEDOUT);
}

void TcpConn::start_recv() {
  recv_wanted_ = true;
  if (!recv_armed_ && !input_held()) arm_recv();
}

void TcpConn::arm_recv() {
  if (recv_armed_ || closing_ >= CloseState::Closing || fd_ < 0) return;
  recv_armed_ = true;
  ++ops_in_flight_;
  loop_->ring().recv_multishot(fd_, loop_->buffers().group(), &recv_op_);
}

void TcpConn::pause_recv() { paused_ = true; }

void TcpConn::resume_recv() {
  if (!paused_) return;
  paused_ = false;
  // Delivery happens at the end of the turn, never nested inside the handler call
  // that resumed us (the codec may be in the middle of parsing).
  loop_->queue_deferred(this);
}

void TcpConn::on_recv_complete(Op* op, int32_t res, uint32_t flags) {
  auto* c = static_cast<TcpConn*>(op->owner);
  bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) {
    c->recv_armed_ = false;
    --c->ops_in_flight_;
  }
  if (res > 0) {
    BufferRing& buffers = c->loop_->buffers();
    uint16_t bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    buffers.take(bid);
    const char* data = buffers.data(bid);
    if (c->closing_ == CloseState::Open || c->closing_ == CloseState::Flushing) {
      if (c->tls_) {
        c->tls_receive(data, static_cast<size_t>(res));
      } else {
        c->deliver(data, static_cast<size_t>(res), nullptr);
      }
    }
    buffers.unref(bid);  // the completion's own reference
    if (!more && !c->recv_armed_ && c->recv_wanted_ && !c->input_held()) c->arm_recv();
  } else if (res == -ENOBUFS) {
    // Out of receive buffers: wait for some to come back, then re-arm. Nothing is
    // lost: the data stays in the socket.
    if (c->closing_ < CloseState::Closing && !c->starving_) {
      c->starving_ = true;
      c->loop_->add_starving(c);
    }
  } else if (res == -ECANCELED) {
    // Cancelled because the stash filled while paused, or by close. If input was
    // resumed before this completion arrived, nobody else will re-arm: do it here.
    if (!c->recv_armed_ && c->recv_wanted_ && !c->input_held() &&
        c->closing_ < CloseState::Closing) {
      c->arm_recv();
    }
  } else {
    // 0 = EOF, < 0 = error.
    if (c->closing_ == CloseState::Lingering) {
      c->begin_close();
    } else if (c->closing_ == CloseState::Open || c->closing_ == CloseState::Flushing) {
      c->recv_wanted_ = false;
      if (c->tls_ && c->tls_->is_client() && !c->tls_handshake_reported_) {
        c->tls_fail(res == 0 ? "the upstream closed the connection during the handshake"
                             : "receive failed during the handshake");
      } else if (c->tls_ && c->tls_input_closed_) {
        // close_notify already reported the end of input.
      } else if (res == 0 && c->tls_ && c->tls_->is_client()) {
        // An upstream's TLS stream must end with close_notify: a bare FIN may be a
        // truncation (it would complete a close-delimited HTTP/1.1 body).
        c->handler_->on_recv_end(-ECONNRESET);
      } else if (res == 0 && !c->stash_.empty()) {
        // A clean end of input comes after the bytes still waiting (pipelined
        // requests are answered before the half-close is acted on).
        c->stash_.push_back(Slice());
      } else {
        // Errors (a reset) and an end of input with nothing pending are reported at
        // once, even while paused: the owner can stop work nobody will read.
        c->handler_->on_recv_end(res);
      }
    }
  }
  c->maybe_finish_close();
}

void TcpConn::deliver(const char* data, size_t len, HeapBlock* block) {
  // Slice::from_recv (here and in the handler) shares TLS plaintext's block.
  set_thread_delivery_block(block);
  if (input_held() || !stash_.empty()) {
    stash(Slice::from_recv(data, static_cast<uint32_t>(len)));
  } else {
    size_t consumed = handler_->on_recv(data, len);
    if (consumed < len && closing_ < CloseState::Lingering) {
      stash(Slice::from_recv(data + consumed, static_cast<uint32_t>(len - consumed)));
    }
  }
  set_thread_delivery_block(nullptr);
}

void TcpConn::stash(Slice bytes) {
  // Adjacent runs of one block (TLS records) share an entry and a reference.
  stashed_bytes_ += bytes.size();
  if (stash_.empty() || !stash_.back().absorb(bytes)) stash_.push_back(std::move(bytes));
  if (stashed_bytes_ > kStashLimitBytes && recv_armed_) loop_->ring().cancel(&recv_op_);
  sync_charge();
}

void TcpConn::deliver_stash() {
  while (!input_held() && !stash_.empty() && closing_ < CloseState::Lingering) {
    Slice s = std::move(stash_.front());
    stash_.pop_front();
    stashed_bytes_ -= s.size();
    if (s.empty()) {  // end-of-input marker
      handler_->on_recv_end(0);
      return;
    }
    set_thread_delivery_block(s.block());  // TLS plaintext: shared, not copied
    size_t consumed = handler_->on_recv(s.data(), s.size());
    set_thread_delivery_block(nullptr);
    if (consumed < s.size()) {
      s.advance(static_cast<uint32_t>(consumed));
      stashed_bytes_ += s.size();
      stash_.push_front(std::move(s));
      break;
    }
  }
  sync_charge();
}

void TcpConn::run_deferred() {
  if (closing_ == CloseState::Closed) {
    if (!closed_notified_) {
      closed_notified_ = true;
      handler_->on_closed();  // may delete this
    }
    return;
  }
  if (starving_) {
    starving_ = false;
    if (recv_wanted_ && !input_held()) arm_recv();
  }
  if (!input_held()) {
    deliver_stash();
    if (closing_ < CloseState::Closing && !input_held() && recv_wanted_ && !recv_armed_) {
      arm_recv();
    }
  }
  maybe_finish_close();
}

void TcpConn::write(Slice slice, uint32_t credit_id) {
  if (closing_ >= CloseState::Lingering || slice.empty()) return;
  // A queued slice pins its receive buffer until the peer reads it; when buffers run
  // low, copy instead, so slow readers cannot starve every receive on the shard.
  if (slice.pins_scarce_buffer()) slice.detach();
  queued_bytes_ += slice.size();
  uint32_t size = slice.size();
  std::deque<Piece>& input = tls_ ? plain_queue_ : queue_;
  size_t busy = tls_ ? 0 : pieces_in_flight_;  // pieces the kernel is reading
  if (input.size() > busy && input.back().credit_id == credit_id &&
      input.back().slice.absorb(slice)) {
    input.back().credit_bytes += size;  // one piece instead of one per TLS record
  } else {
    input.push_back(Piece{std::move(slice), credit_id, size});
  }
  loop_->queue_flush(this);
}

void TcpConn::write_copy(const char* data, size_t len) {
  if (closing_ >= CloseState::Lingering || len == 0) return;
  std::deque<Piece>& input = tls_ ? plain_queue_ : queue_;
  size_t busy = tls_ ? 0 : pieces_in_flight_;  // pieces the kernel is reading
  if (input.size() > busy && input.back().credit_id == 0 &&
      input.back().slice.append_copy(data, static_cast<uint32_t>(len))) {
    input.back().credit_bytes += static_cast<uint32_t>(len);
    queued_bytes_ += len;
    loop_->queue_flush(this);
    return;
  }
  HeapBlock* block = heap_block_new(static_cast<uint32_t>(len));
  memcpy(block->bytes, data, len);
  block->used = static_cast<uint32_t>(len);
  Slice s = Slice::from_block(block, 0, static_cast<uint32_t>(len));
  heap_block_unref(block);  // the slice holds the only reference now
  write(std::move(s));
}

void TcpConn::request_flush() {
  if (closing_ < CloseState::Lingering) loop_->queue_flush(this);
}

void TcpConn::flush() {
  if (closing_ >= CloseState::Lingering) return;
  handler_->on_before_flush();
  if (tls_) tls_encrypt();
  if (!send_in_flight_ && !queue_.empty() && connected_) submit_send();
  check_backlog();
  sync_charge();
}

void TcpConn::submit_send() {
  int n = 0;
  for (auto it = queue_.begin(); it != queue_.end() && n < kMaxIov; ++it, ++n) {
    iov_[n].iov_base = const_cast<char*>(it->slice.data());
    iov_[n].iov_len = it->slice.size();
  }
  msg_ = msghdr{};
  msg_.msg_iov = iov_;
  msg_.msg_iovlen = static_cast<size_t>(n);
  pieces_in_flight_ = static_cast<uint32_t>(n);
  send_in_flight_ = true;
  ++ops_in_flight_;
  loop_->ring().sendmsg(fd_, &msg_, &send_op_);
  if (send_timeout_ms_ != 0 && !send_timer_.armed) {
    // Output starts waiting now; the timer checks for progress when it fires rather
    // than being re-armed by every send.
    last_send_progress_ms_ = loop_->now_ms();
    loop_->arm_timer(&send_timer_, send_timeout_ms_);
  }
}

void TcpConn::on_send_complete(Op* op, int32_t res, uint32_t) {
  auto* c = static_cast<TcpConn*>(op->owner);
  --c->ops_in_flight_;
  c->send_in_flight_ = false;
  c->pieces_in_flight_ = 0;
  if (res < 0) {
    if (c->closing_ < CloseState::Closing) {
      if (res == -EAGAIN || res == -EINTR) {
        c->loop_->queue_flush(c);
      } else {
        c->handler_->on_send_error(res);
      }
    }
    c->maybe_finish_close();
    return;
  }
  size_t sent = static_cast<size_t>(res);
  c->queued_bytes_ -= sent;
  if (sent > 0) c->last_send_progress_ms_ = c->loop_->now_ms();
  size_t cipher_sent = sent;
  while (sent > 0 && !c->queue_.empty()) {
    Piece& front = c->queue_.front();
    if (sent < front.slice.size()) {
      front.slice.advance(static_cast<uint32_t>(sent));
      break;
    }
    sent -= front.slice.size();
    uint32_t credit = front.credit_id;
    uint32_t bytes = front.credit_bytes;
    c->queue_.pop_front();
    if (credit != 0 && c->closing_ < CloseState::Closing) c->handler_->on_credit(credit, bytes);
  }
  // TLS credits fire after the sent pieces are gone (a handler may close us).
  if (c->tls_) c->tls_credit_sent(cipher_sent);
  if (c->closing_ >= CloseState::Closing) {
    c->maybe_finish_close();
    return;
  }
  c->check_backlog();
  c->sync_charge();
  if (!c->queue_.empty() || !c->plain_queue_.empty()) {
    c->loop_->queue_flush(c);
  } else {
    if (c->closing_ == CloseState::Flushing) {
      c->close_after_flush(c->linger_ms_);
    } else if (c->drain_notice_) {
      c->drain_notice_ = false;
      c->handler_->on_send_drained();
    }
  }
  c->maybe_finish_close();
}

void TcpConn::close_after_flush(uint32_t linger_ms) {
  if (closing_ >= CloseState::Lingering) return;
  linger_ms_ = linger_ms;
  if (!connected_) {
    begin_close();
    maybe_finish_close();
    return;
  }
  if (tls_ && !tls_close_notify_queued_ && plain_queue_.empty() &&
      tls_->handshake_state() == TlsHandshakeState::kDone) {
    // Everything written is encrypted: end the TLS stream properly.
    tls_close_notify_queued_ = true;
    tls_->shutdown();
    pull_ciphertext();
  }
  if (!queue_.empty() || !plain_queue_.empty() || send_in_flight_) {
    closing_ = CloseState::Flushing;
    loop_->queue_flush(this);
    return;
  }
  // Everything is sent: shut our side down, then discard input until the peer
  // closes or the linger time passes, so a client still sending does not get a
  // reset that would destroy the response it has not read yet.
  shutdown(fd_, SHUT_WR);
  closing_ = CloseState::Lingering;
  stash_.clear();
  stashed_bytes_ = 0;
  sync_charge();
  paused_ = false;
  backlogged_ = false;
  loop_->disarm_timer(&send_timer_);
  recv_wanted_ = true;
  if (!recv_armed_) arm_recv();
  loop_->arm_timer(&linger_timer_, linger_ms);
}

void TcpConn::on_linger_timeout(Timer* timer) {
  auto* c = static_cast<TcpConn*>(timer->owner);
  c->begin_close();
  c->maybe_finish_close();
}

void TcpConn::abort() {
  begin_close();
  maybe_finish_close();
}

void TcpConn::begin_close() {
  if (closing_ >= CloseState::Closing) return;
  closing_ = CloseState::Closing;
  recv_wanted_ = false;
  loop_->disarm_timer(&linger_timer_);
  loop_->disarm_timer(&send_timer_);
  if (starving_) {
    starving_ = false;
    loop_->remove_starving(this);
  }
  if (recv_armed_) loop_->ring().cancel(&recv_op_);
  if (send_in_flight_) loop_->ring().cancel(&send_op_);
  if (fd_ >= 0 && !connected_ && ops_in_flight_ > 0) loop_->ring().cancel(&connect_op_);
  // Pieces being sent stay alive until the send completes: the kernel reads them.
  while (queue_.size() > pieces_in_flight_) {
    queued_bytes_ -= queue_.back().slice.size();
    queue_.pop_back();
  }
  for (const Piece& p : plain_queue_) queued_bytes_ -= p.slice.size();
  plain_queue_.clear();
  tls_credits_.clear();
  stash_.clear();
  stashed_bytes_ = 0;
  sync_charge();
}

void TcpConn::maybe_finish_close() {
  if (closing_ != CloseState::Closing || ops_in_flight_ != 0) return;
  queue_.clear();
  plain_queue_.clear();
  queued_bytes_ = 0;
  stash_.clear();
  stashed_bytes_ = 0;
  sync_charge();
  if (tls_rx_block_) {
    heap_block_unref(tls_rx_block_);
    tls_rx_block_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  closing_ = CloseState::Closed;
  loop_->queue_deferred(this);
}

// ---------------------------------------------------------------------------------
// TLS

void TcpConn::tls_receive(const char* data, size_t len) {
  // After a failure (the alert is being flushed) or close_notify, input is ignored.
  if (tls_->handshake_state() == TlsHandshakeState::kFailed || tls_input_closed_) return;
  auto* bytes = reinterpret_cast<const uint8_t*>(data);
  while (len > 0 && closing_ < CloseState::Lingering) {
    size_t fed = tls_->feed_ciphertext(bytes, len);
    bytes += fed;
    len -= fed;
    if (!tls_handshake_reported_) {
      TlsHandshakeState state = tls_->handshake_state();
      if (state == TlsHandshakeState::kFailed) {
        pull_ciphertext();  // the alert, if the library produced one
        tls_fail("handshake");
        return;
      }
      if (state == TlsHandshakeState::kInProgress) {
        pull_ciphertext();
        if (fed == 0) {
          tls_fail("handshake input over the buffer limit");
          return;
        }
        continue;
      }
      tls_handshake_finished();
      if (closing_ >= CloseState::Lingering) return;
    }
    // Decrypt every complete record now; the plaintext is delivered or stashed.
    while (!tls_input_closed_) {
      // Plaintext fills the current block from where the last record ended, so a
      // peer sending tiny records cannot make each byte pin a whole block.
      HeapBlock* block = tls_rx_block();
      uint32_t offset = block->used;
      TlsReadResult r = tls_->read(reinterpret_cast<uint8_t*>(block->bytes) + offset,
                                   block->capacity - offset);
      if (r.status == TlsReadStatus::kOk) {
        block->used += static_cast<uint32_t>(r.bytes);
        deliver(block->bytes + offset, r.bytes, block);
        if (closing_ >= CloseState::Lingering) return;
        continue;
      }
      if (r.status == TlsReadStatus::kWantMore) break;
      if (r.status == TlsReadStatus::kClosed) {
        // close_notify: the end of input, after whatever is still waiting. Bytes
        // after it (and the TCP end that follows) are ignored.
        tls_input_closed_ = true;
        recv_wanted_ = false;
        if (!stash_.empty() || input_held()) {
          stash_.push_back(Slice());
        } else {
          handler_->on_recv_end(0);
        }
        return;
      }
      pull_ciphertext();
      tls_fail("read");
      return;
    }
    if (tls_input_closed_) break;
    if (fed == 0) {
      tls_fail("record input over the buffer limit");
      return;
    }
  }
  pull_ciphertext();  // post-handshake messages (session tickets, key updates)
}

HeapBlock* TcpConn::tls_rx_block() {
  constexpr uint32_t kMinRoom = 2048;  // less left: start a fresh block
  if (tls_rx_block_ && tls_rx_block_->refs == 1) {
    tls_rx_block_->used = 0;  // nobody else holds its bytes: reuse from the start
  }
  if (!tls_rx_block_ || tls_rx_block_->capacity - tls_rx_block_->used < kMinRoom) {
    if (tls_rx_block_) heap_block_unref(tls_rx_block_);
    tls_rx_block_ = heap_block_new(1);  // a default-size (recycled) block
  }
  return tls_rx_block_;
}

void TcpConn::tls_handshake_finished() {
  tls_handshake_reported_ = true;
  pull_ciphertext();
  if (tls_->is_client()) {
    handler_->on_connected(0);
  } else {
    handler_->on_tls_handshake(true);
  }
  // Plaintext written before the handshake ended can be encrypted now.
  if (!plain_queue_.empty()) loop_->queue_flush(this);
}

void TcpConn::tls_fail(const char* what) {
  bool in_handshake = !tls_handshake_reported_;
  tls_handshake_reported_ = true;
  if (tls_->is_client()) {
    if (tls_->error().empty()) {
      RW_LOG(Warn, "upstream TLS: %s", what);
    } else {
      RW_LOG(Warn, "upstream TLS %s failed: %s", what, tls_->error().c_str());
    }
  }
  // Send the alert the library queued (if any), then close.
  close_after_flush(0);
  if (!in_handshake) {
    handler_->on_recv_end(-EPROTO);
  } else if (tls_->is_client()) {
    handler_->on_connected(-EPROTO);
  } else {
    handler_->on_tls_handshake(false);
  }
}

void TcpConn::pull_ciphertext() {
  bool queued = false;
  while (tls_->ciphertext_pending() > 0) {
    HeapBlock* block = heap_block_new(1);  // a default-size (recycled) block
    size_t n = tls_->take_ciphertext(reinterpret_cast<uint8_t*>(block->bytes), block->capacity);
    block->used = static_cast<uint32_t>(n);
    if (n == 0 || closing_ >= CloseState::Lingering) {
      heap_block_unref(block);
      if (n == 0) break;
      continue;  // closing: drained and dropped
    }
    queue_.push_back(Piece{Slice::from_block(block, 0, static_cast<uint32_t>(n)), 0,
                           static_cast<uint32_t>(n)});
    heap_block_unref(block);
    queued_bytes_ += n;
    cipher_queued_total_ += n;
    queued = true;
  }
  if (queued) loop_->queue_flush(this);
}

void TcpConn::tls_encrypt() {
  if (tls_->handshake_state() != TlsHandshakeState::kDone || plain_queue_.empty()) return;
  uint64_t now = loop_->now_ms();
  if (now - last_plain_write_ms_ >= record_policy_.idle_ms) record_warm_bytes_ = 0;
  last_plain_write_ms_ = now;
  uint8_t staging[kTlsFullRecord];
  while (!plain_queue_.empty() && cipher_queued_total_ - cipher_sent_total_ < kTlsCipherQueueMax) {
    size_t target = record_warm_bytes_ < record_policy_.warmup_bytes ? kTlsSmallRecord
                                                                     : kTlsFullRecord;
    const Piece& front = plain_queue_.front();
    const uint8_t* src;
    size_t n;
    if (front.slice.size() >= target || plain_queue_.size() == 1) {
      // One slice fills the record (a relayed DATA payload): encrypt in place.
      src = reinterpret_cast<const uint8_t*>(front.slice.data());
      n = std::min<size_t>(front.slice.size(), target);
    } else {
      // Small pieces (frame headers, heads): gather them into one record. A large
      // piece (a relayed payload) is not copied in: it starts the next record and is
      // encrypted in place, at the price of one short record before it.
      n = 0;
      for (const Piece& p : plain_queue_) {
        if (n > 0 && p.slice.size() >= kTlsInPlaceMin) break;
        size_t take = std::min<size_t>(p.slice.size(), target - n);
        memcpy(staging + n, p.slice.data(), take);
        n += take;
        if (n == target) break;
      }
      src = staging;
    }
    size_t written = tls_->write_plaintext(src, n);
    if (written == 0) {
      if (tls_->handshake_state() == TlsHandshakeState::kFailed) tls_fail("write");
      return;
    }
    pull_ciphertext();
    record_warm_bytes_ += written;
    // Retire the plaintext the record carried; its credits fire once the
    // ciphertext queued so far has been sent.
    while (written > 0) {
      Piece& p = plain_queue_.front();
      size_t take = std::min<size_t>(written, p.slice.size());
      p.slice.advance(static_cast<uint32_t>(take));
      queued_bytes_ -= take;
      written -= take;
      if (p.slice.empty()) {
        if (p.credit_id != 0) {
          tls_credits_.push_back(TlsCredit{cipher_queued_total_, p.credit_id, p.credit_bytes});
        }
        plain_queue_.pop_front();
      }
    }
  }
}

void TcpConn::tls_credit_sent(size_t bytes) {
  cipher_sent_total_ += bytes;
  while (!tls_credits_.empty() && tls_credits_.front().cipher_end <= cipher_sent_total_ &&
         closing_ < CloseState::Closing) {
    TlsCredit credit = tls_credits_.front();
    tls_credits_.pop_front();
    handler_->on_credit(credit.credit_id, credit.bytes);
  }
}

}  // namespace ringway
