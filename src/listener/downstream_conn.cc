#include "listener/downstream_conn.h"

#include <cstring>

#include "base/log.h"
#include "http1/h1_server.h"
#include "http2/h2_server.h"
#include "io/loop.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace ringway {
namespace {
constexpr char kH2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kH2PrefaceLen = 24;
}  // namespace

void DownstreamConnList::add(DownstreamConn* c) {
  c->prev_ = nullptr;
  c->next_ = head_;
  if (head_) head_->prev_ = c;
  head_ = c;
  ++size_;
}

void DownstreamConnList::remove(DownstreamConn* c) {
  if (c->prev_) {
    c->prev_->next_ = c->next_;
  } else {
    head_ = c->next_;
  }
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
  --size_;
}

DownstreamConn::DownstreamConn(const ListenerContext& context, ListenerScope* scope,
                               RequestHandlerFactory* handlers, uint64_t listener_id, int fd,
                               std::string client_address, bool tls)
    : ctx_(context),
      scope_(scope),
      handlers_(handlers),
      listener_id_(listener_id),
      tcp_(context.loop, this) {
  scope_->acquire();
  info_.client_address = std::move(client_address);
  info_.tls = tls;
  for (const IpPrefix& prefix : gateway().trusted_proxies) {
    info_.trusted_proxy = info_.trusted_proxy || prefix.contains(info_.client_address);
  }
  tcp_.attach(fd);
  tcp_.set_output_limits(gateway().send_queue_bytes, gateway().send_timeout_ms, ctx_.memory,
                         /*hold_input=*/true);
  if (tls) {
    // Ciphertext is fed one receive buffer at a time and decrypted at once, so the
    // library holds at most a buffer plus one partial record.
    TlsLimits limits;
    limits.ciphertext_in_bytes_max = gateway().buffer_size + 32768;
    const TlsConfig& tls_config = scope_->config().tls;
    tcp_.use_tls(std::make_unique<TlsSession>(*scope_->tls_server(), limits),
                 TlsRecordPolicy{tls_config.record_warmup_bytes, tls_config.record_idle_ms});
  }
  sniff_timer_.callback = on_sniff_timeout;
  sniff_timer_.owner = this;
  ctx_.connections->add(this);
  ++ctx_.stats->connections_open[gauge_index_];
}

DownstreamConn::~DownstreamConn() {
  ctx_.loop->disarm_timer(&sniff_timer_);
  ctx_.connections->remove(this);
  --ctx_.stats->connections_open[gauge_index_];
  scope_->release();  // last: the scope may be freed here
}

void DownstreamConn::set_protocol_gauge(size_t index) {
  --ctx_.stats->connections_open[gauge_index_];
  gauge_index_ = index;
  ++ctx_.stats->connections_open[gauge_index_];
}

void DownstreamConn::start() {
  if (info_.tls) {
    // The codec is chosen by ALPN once the handshake is done; a handshake that
    // stalls is cut off.
    ctx_.loop->arm_timer(&sniff_timer_, scope_->config().tls.handshake_timeout_ms);
  } else if (!gateway().enable_http2) {
    choose_codec(false);
  } else {
    ctx_.loop->arm_timer(&sniff_timer_, gateway().request_header_timeout_ms);
  }
  tcp_.start_recv();
}

void DownstreamConn::on_sniff_timeout(Timer* timer) {
  auto* c = static_cast<DownstreamConn*>(timer->owner);
  if (c->codec_) return;
  if (c->info_.tls) {
    ++c->ctx_.stats->tls_handshake_failures;
    RW_LOG(Debug, "tls handshake failed: client %s: not done within %u ms",
           c->info_.client_address.c_str(), c->scope_->config().tls.handshake_timeout_ms);
  }
  c->tcp_.abort();
}

void DownstreamConn::on_tls_handshake(bool ok) {
  const TlsSession* tls = tcp_.tls();
  if (!ok) {
    ++ctx_.stats->tls_handshake_failures;
    RW_LOG(Debug, "tls handshake failed: client %s: %s", info_.client_address.c_str(),
           tls->error().c_str());
    return;  // the connection is closing
  }
  ++ctx_.stats->tls_handshakes;
  bool resumed = tls->session_resumed();
  if (resumed) ++ctx_.stats->tls_resumed_handshakes;
  ClientCert& cert = info_.client_cert;
  switch (tls->peer_cert_state()) {
    case TlsPeerCertState::kNone:
      cert.state = ClientCertState::kNone;
      break;
    case TlsPeerCertState::kVerified:
      cert.state = ClientCertState::kVerified;
      break;
    case TlsPeerCertState::kUnverified:
      cert.state = ClientCertState::kUnverified;
      cert.verify_error = tls->verify_result_text();
      break;
  }
  cert.sha256 = tls->peer_cert_sha256();
  cert.subject = tls->peer_subject();
  std::string_view alpn = tls->alpn();
  RW_LOG(Debug, "tls handshake shard=%d resumed=%d alpn=%.*s version=%s client=%s cert=%s",
         ctx_.shard_index, resumed ? 1 : 0, static_cast<int>(alpn.size()),
         alpn.empty() ? "-" : alpn.data(),
         tls->protocol_version() == TLS1_3_VERSION ? "1.3" : "1.2", info_.client_address.c_str(),
         cert.state == ClientCertState::kVerified     ? "verified"
         : cert.state == ClientCertState::kUnverified ? "unverified"
                                                              : "none");
  choose_codec(tls->app_protocol() == TlsAppProtocol::kHttp2);
}

void DownstreamConn::choose_codec(bool http2) {
  ctx_.loop->disarm_timer(&sniff_timer_);
  info_.protocol = http2 ? DownstreamProtocol::kHttp2 : DownstreamProtocol::kHttp1;
  set_protocol_gauge(static_cast<size_t>(info_.protocol));
  ServerCodecContext codec{ctx_.loop, &tcp_, &gateway(), handlers_, &info_, ctx_.http_stats,
                           ctx_.shed_over_memory ? ctx_.memory : nullptr, ctx_.memory};
  if (http2) {
    codec_ = std::make_unique<Http2Server>(codec);
  } else {
    codec_ = std::make_unique<Http1Server>(codec);
  }
  if (draining_) codec_->drain();
}

size_t DownstreamConn::on_recv(const char* data, size_t len) {
  if (codec_) return codec_->on_recv(data, len);
  if (info_.tls) return 0;  // cannot happen: plaintext only flows after the handshake
  // Sniff: HTTP/2 with prior knowledge starts with the 24-byte preface. Bytes are
  // compared as they come; the first mismatch means HTTP/1.1.
  size_t take = len < kH2PrefaceLen - sniffed_ ? len : kH2PrefaceLen - sniffed_;
  bool match = memcmp(data, kH2Preface + sniffed_, take) == 0;
  if (match && sniffed_ + take < kH2PrefaceLen) {
    memcpy(sniff_ + sniffed_, data, take);
    sniffed_ += take;
    return len;  // a strict prefix so far: wait for more
  }
  choose_codec(match);
  if (sniffed_ > 0) {
    // Replay what was held back (copied: the codec sees it outside recv buffers).
    size_t held = sniffed_;
    sniffed_ = 0;
    codec_->on_recv(sniff_, held);
    if (tcp_.closing()) return len;
  }
  size_t consumed = codec_->on_recv(data, len);
  return consumed;
}

void DownstreamConn::on_recv_end(int error) {
  if (codec_) {
    codec_->on_recv_end(error);
    return;
  }
  if (info_.tls && tcp_.tls()->handshake_state() == TlsHandshakeState::kInProgress) {
    ++ctx_.stats->tls_handshake_failures;
    RW_LOG(Debug, "tls handshake failed: client %s: connection closed during the handshake",
           info_.client_address.c_str());
  }
  tcp_.abort();
}

void DownstreamConn::on_credit(uint32_t credit_id, uint32_t bytes) {
  if (codec_) codec_->on_credit(credit_id, bytes);
}

void DownstreamConn::on_send_drained() {
  if (codec_) codec_->on_send_drained();
}

void DownstreamConn::on_before_flush() {
  if (codec_) codec_->on_before_flush();
}

void DownstreamConn::on_send_error(int error) {
  if (error == -ETIMEDOUT) {
    ++ctx_.stats->send_timeouts;
    RW_LOG(Debug, "client %s: nothing read for %u ms with output waiting; closing",
           info_.client_address.c_str(), gateway().send_timeout_ms);
  } else {
    RW_LOG(Debug, "client %s: send failed: %s", info_.client_address.c_str(), strerror(-error));
  }
  if (codec_) codec_->on_connection_closing();
  tcp_.abort();
}

void DownstreamConn::drain() {
  if (draining_) return;
  draining_ = true;
  if (codec_) {
    codec_->drain();
  } else {
    // Nothing received yet: nothing in progress to finish.
    tcp_.abort();
  }
}

void DownstreamConn::abort() {
  if (codec_) codec_->on_connection_closing();
  tcp_.abort();
}

void DownstreamConn::on_closed() {
  if (codec_) codec_->on_connection_closing();
  codec_.reset();
  delete this;
}

}  // namespace ringway
