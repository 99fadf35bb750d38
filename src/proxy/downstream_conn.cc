#include "proxy/downstream_conn.h"

#include <cstring>

#include "base/log.h"
#include "http1/h1_server.h"
#include "http2/h2_server.h"

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

DownstreamConn::DownstreamConn(ProxyContext* ctx, DownstreamConnList* list, int fd,
                               std::string client_address)
    : ctx_(ctx), list_(list), tcp_(ctx->loop, this), client_address_(std::move(client_address)) {
  tcp_.attach(fd);
  sniff_timer_.callback = on_sniff_timeout;
  sniff_timer_.owner = this;
  list_->add(this);
  ++ctx_->downstream_connections;
}

DownstreamConn::~DownstreamConn() {
  ctx_->loop->disarm_timer(&sniff_timer_);
  list_->remove(this);
  --ctx_->downstream_connections;
}

void DownstreamConn::start() {
  if (!ctx_->gateway->enable_http2) {
    choose_codec(false);
  } else {
    ctx_->loop->arm_timer(&sniff_timer_, ctx_->gateway->request_header_timeout_ms);
  }
  tcp_.start_recv();
}

void DownstreamConn::on_sniff_timeout(Timer* timer) {
  auto* c = static_cast<DownstreamConn*>(timer->owner);
  if (!c->codec_) c->tcp_.abort();
}

void DownstreamConn::choose_codec(bool http2) {
  ctx_->loop->disarm_timer(&sniff_timer_);
  if (http2) {
    codec_ = std::make_unique<Http2Server>(this);
  } else {
    codec_ = std::make_unique<Http1Server>(this);
  }
  if (draining_) codec_->drain();
}

size_t DownstreamConn::on_recv(const char* data, size_t len) {
  if (codec_) return codec_->on_recv(data, len);
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
  } else {
    tcp_.abort();
  }
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
  RW_LOG(Debug, "client %s: send failed: %s", client_address_.c_str(), strerror(-error));
  if (codec_) codec_->on_connection_closing();
  tcp_.abort();
}

void DownstreamConn::drain() {
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
