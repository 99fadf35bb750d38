#pragma once
// Shared by the codec fuzz targets (h1/h2 server and client): an input reader, a
// clock the harness advances, an in-memory ByteSink that behaves as TcpConn does
// towards its handler (stash while paused, credits when "sent", close states), and
// the driver that feeds a codec through the connection events.
//
// Input layout (as libFuzzer's FuzzedDataProvider: not used because the replay
// tests build with gcc, where its header is not on the include path): payload bytes
// (what the peer sends) are taken from the front, control values (chunk sizes, which
// event comes next, what a handler does) from the back. An input that is all payload
// is one receive of everything, handled with default choices.
//
// Invariants a target checks trap (__builtin_trap), so the replay tests fail too.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include <cerrno>
#include <functional>
#include <memory>
#include <vector>

#include "config/config.h"
#include "http/downstream.h"
#include "http/message.h"
#include "http/server_codec.h"
#include "http/upstream.h"
#include "io/timer_wheel.h"
#include "io/timers.h"
#include "mem/memory_budget.h"
#include "mem/slice.h"
#include "net/byte_sink.h"

namespace ringway::fuzz {

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t remaining() const { return size_; }
  uint32_t u8() {
    if (size_ == 0) return 0;
    --size_;
    return data_[size_];
  }
  uint32_t u16() { return u8() | (u8() << 8); }
  // [0, n) (0 when the input is spent).
  uint32_t below(uint32_t n) { return n <= 256 ? u8() % n : u16() % n; }
  bool flag() { return (u8() & 1) != 0; }
  template <class T, size_t N>
  T pick(const T (&values)[N]) {
    return values[below(N)];
  }
  // Up to |n| payload bytes from the front.
  std::string_view bytes(size_t n) {
    n = std::min(n, size_);
    std::string_view out(reinterpret_cast<const char*>(data_), n);
    data_ += n;
    size_ -= n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

// Timers on a wheel driven by a clock that only moves when the harness says so.
class ManualTimers final : public Timers {
 public:
  static constexpr uint64_t kStartMs = 1000000;
  uint64_t now_ms() const override { return now_; }
  void arm_timer(Timer* timer, uint64_t delay_ms) override { wheel_.arm(timer, now_ + delay_ms); }
  void disarm_timer(Timer* timer) override { wheel_.disarm(timer); }
  void advance(uint64_t ms) {
    now_ += ms;
    wheel_.advance(now_);
  }
  uint32_t armed() const { return wheel_.armed_count(); }

 private:
  uint64_t now_ = kStartMs;
  TimerWheel wheel_{kStartMs};
};

// The connection events a codec takes (ServerCodec or TcpConn::Handler).
class ConnEvents {
 public:
  virtual size_t recv(const char* data, size_t len) = 0;
  virtual void recv_end(int error) = 0;
  virtual void credit(uint32_t credit_id, uint32_t bytes) = 0;
  virtual void before_flush() = 0;

 protected:
  ~ConnEvents() = default;
};

// Whoever is inside a stream call (a fake handler or caller): a codec that drops
// body bytes may report them as sent at once, inside that call.
inline const void*& acting_party() {
  static const void* party = nullptr;
  return party;
}
struct Acting {
  explicit Acting(const void* who) : saved(acting_party()) { acting_party() = who; }
  ~Acting() { acting_party() = saved; }
  const void* saved;
};
// Body bytes a fake sends are its tag repeated, so a credited slice (or any part of
// one) names the party whose bytes it carries, whenever the codec writes it.
struct PartyTags {
  std::vector<const void*> owners{nullptr};  // tag 0: nobody
  size_t next_reused = 1;
};
inline PartyTags& party_tags() {
  static PartyTags tags;
  return tags;
}
inline void reset_party_tags() { party_tags() = PartyTags(); }
inline uint8_t tag_party(const void* party) {
  PartyTags& tags = party_tags();
  if (tags.owners.size() < 251) {
    tags.owners.push_back(party);
    return static_cast<uint8_t>(tags.owners.size() - 1);
  }
  // Past 250 parties tags are reused, oldest first (checks stay sound while the
  // older owner sends nothing more, which the harnesses' request counts make likely).
  uint8_t tag = static_cast<uint8_t>(tags.next_reused);
  tags.owners[tag] = party;
  tags.next_reused = tags.next_reused % 250 + 1;
  return tag;
}
inline const void* tagged_owner(const Slice& s) {
  uint8_t tag = static_cast<uint8_t>(s.data()[0]);
  const std::vector<const void*>& owners = party_tags().owners;
  return tag < owners.size() ? owners[tag] : nullptr;
}
// The owner of the credited slice being reported (during ConnEvents::credit).
inline const void*& crediting_party() {
  static const void* party = nullptr;
  return party;
}

// TcpConn's states as its handler sees them: Flushing still delivers input, credits
// and flushes; Lingering and Closed deliver nothing more.
class MemSink final : public ByteSink {
 public:
  enum class State : uint8_t { Open, Flushing, Lingering, Closed };
  struct Piece {
    uint32_t size;  // bytes not yet "sent"
    uint32_t credit_id;
    uint32_t credit_bytes;
    const void* owner;
  };

  // Above |limit| queued bytes the producer is told to hold output (output_full).
  void set_limit(size_t limit) { limit_ = limit; }

  void write(Slice slice, uint32_t credit_id) override {
    // A codec that closed its connection has said everything it will say: nothing
    // after abort() or once the flush is over (TcpConn would drop it). While the
    // queue flushes TcpConn still sends what is added (an HTTP/2 session's last
    // frames, produced in the same pump that closed).
    check(state_ <= State::Flushing);
    if (slice.empty()) return;
    add(slice.size(), credit_id, credit_id ? tagged_owner(slice) : nullptr);
  }
  void write_copy(const char* data, size_t len) override {
    check(state_ <= State::Flushing);
    (void)data;
    if (len == 0) return;
    add(static_cast<uint32_t>(len), 0, nullptr);
  }
  size_t queued_bytes() const override { return queued_; }
  bool output_full() const override { return queued_ > limit_; }
  void request_flush() override {
    if (state_ < State::Lingering) flush_requested_ = true;
  }
  void pause_recv() override { paused_ = true; }
  void resume_recv() override {
    if (!paused_) return;
    paused_ = false;
    deferred_ = true;  // delivery at the end of the turn, never nested
  }
  void close_after_flush(uint32_t) override {
    if (state_ >= State::Lingering) return;
    state_ = queue_.empty() ? State::Lingering : State::Flushing;
    if (state_ == State::Lingering) close_now();
  }
  void abort() override {
    if (state_ == State::Closed) return;
    state_ = State::Closed;
    close_now();
  }
  bool closing() const override { return state_ != State::Open; }

  State state() const { return state_; }
  bool done() const { return state_ >= State::Lingering; }
  bool input_held() const { return paused_ || backlogged_; }
  uint64_t total_written() const { return total_; }

  // "Sends" up to |n| bytes from the front; credited pieces fully sent are reported.
  void send(size_t n, ConnEvents& events) {
    while (n > 0 && !queue_.empty() && state_ < State::Lingering) {
      Piece& p = queue_.front();
      size_t take = std::min<size_t>(n, p.size);
      p.size -= static_cast<uint32_t>(take);
      queued_ -= take;
      n -= take;
      if (p.size > 0) break;
      Piece done = p;
      queue_.pop_front();
      if (done.credit_id != 0) {
        crediting_party() = done.owner;
        events.credit(done.credit_id, done.credit_bytes);
        crediting_party() = nullptr;
      }
    }
    if (state_ == State::Flushing && queue_.empty()) {
      state_ = State::Lingering;
      close_now();
    }
    if (backlogged_ && queued_ <= limit_ / 2) {
      backlogged_ = false;
      deferred_ = true;
      flush_requested_ = true;
    }
  }

  // Input as TcpConn delivers it: straight to the codec unless held or behind a stash.
  void receive(std::string_view bytes, ConnEvents& events) {
    if (state_ >= State::Lingering || bytes.empty()) return;
    if (input_held() || !stash_.empty() || stash_end_) {
      stash_.append(bytes);
      return;
    }
    deliver(bytes, events);
  }
  void receive_end(int error, ConnEvents& events) {
    if (state_ >= State::Lingering) {
      if (state_ == State::Lingering) state_ = State::Closed;
      return;
    }
    if (error == 0 && !stash_.empty()) {
      stash_end_ = true;  // after the bytes still waiting
      return;
    }
    events.recv_end(error);
  }

  // The end of a loop turn: on_before_flush when asked for, then stashed input once
  // it is no longer held (bounded rounds, as the loop's end of turn).
  void end_turn(ConnEvents& events) {
    for (int round = 0; round < 16; ++round) {
      bool worked = false;
      if (flush_requested_ && state_ < State::Lingering) {
        flush_requested_ = false;
        events.before_flush();
        if (queued_ > limit_) backlogged_ = true;
        worked = true;
      }
      if (deferred_) {
        deferred_ = false;
        while (!input_held() && (!stash_.empty() || stash_end_) && state_ < State::Lingering) {
          if (stash_.empty()) {
            stash_end_ = false;
            events.recv_end(0);
            break;
          }
          std::string pending;
          pending.swap(stash_);
          deliver(pending, events);
        }
        worked = true;
      }
      if (!worked) break;
    }
  }

 private:
  void add(uint32_t size, uint32_t credit_id, const void* owner) {
    queue_.push_back(Piece{size, credit_id, size, owner});
    queued_ += size;
    total_ += size;
    flush_requested_ = true;
  }
  void deliver(std::string_view bytes, ConnEvents& events) {
    // A copy the codec may reference for the duration of the call only (slices made
    // from it are copies: there is no receive-buffer ring here).
    std::string copy(bytes);
    size_t consumed = events.recv(copy.data(), copy.size());
    check(consumed <= copy.size());
    if (consumed < copy.size() && state_ < State::Lingering) {
      // Fewer bytes taken means input was paused; otherwise it would stall forever.
      check(input_held());
      stash_.insert(0, copy.substr(consumed));
    }
  }
  void close_now() {
    queue_.clear();
    queued_ = 0;
    stash_.clear();
    stash_end_ = false;
  }

  size_t limit_ = SIZE_MAX;
  State state_ = State::Open;
  std::deque<Piece> queue_;
  size_t queued_ = 0;
  uint64_t total_ = 0;
  bool flush_requested_ = false;
  bool paused_ = false;
  bool backlogged_ = false;
  bool deferred_ = false;
  std::string stash_;
  bool stash_end_ = false;
};

// The steps every harness takes, by |choice|: bytes from the peer (0-3), the clock
// moving by one of |delays_ms| (4), room in the socket (5-6). Choices from 7 on are
// each harness's own; they do nothing here.
template <size_t N>
void transport_step(uint32_t choice, FuzzInput& in, MemSink& sink, ManualTimers& timers,
                    const uint32_t (&delays_ms)[N], ConnEvents& events) {
  if (choice <= 3) {
    uint32_t n = in.u16();
    sink.receive(in.bytes(n == 0 ? SIZE_MAX : n), events);
  } else if (choice == 4) {
    timers.advance(in.pick(delays_ms));
  } else if (choice <= 6) {
    uint32_t n = in.u16();
    sink.send(n == 0 ? SIZE_MAX : n, events);
  }
}

// Body bytes of the party tagged |tag| (see tag_party).
inline Slice filler(uint32_t n, uint8_t tag) {
  std::string bytes(n, static_cast<char>(tag));
  return Slice::copy_of(bytes.data(), n);
}

// --- server side: a request handler that answers as the input says ---------------

class ServerHarness;

class FakeRequestHandler final : public RequestHandler {
 public:
  enum Plan : uint32_t {
    kReplyAtHead,      // send_local_reply from on_request_head
    kStreamAtHead,     // head, data, end from on_request_head
    kReplyAtEnd,       // send_local_reply once the request has ended
    kStreamAtEnd,      // a streamed response once the request has ended
    kLater,            // answers when the harness says (upstream latency)
    kAbortAtHead,      // abort_response from on_request_head
    kBodilessAtHead,   // send_response_head(end_stream) from on_request_head
    kLaterPaused,      // pause_request at the head, answers later
    kPlanCount,
  };
  enum Action : uint32_t { kHead, kData, kEnd, kLocal, kAbort, kConsume, kResume, kWhole,
                           kActionCount };

  FakeRequestHandler(FuzzInput& in, ServerStream* stream, uint32_t plan)
      : in_(in), stream_(stream), plan_(plan), tag_(tag_party(this)) {}

  bool ended() const { return ended_; }
  bool waiting() const { return !ended_; }

  void on_request_head(RequestHead&& head, bool end_stream) override {
    check(!got_head_ && !ended_);
    got_head_ = true;
    head_ = std::move(head);
    request_ended_ = end_stream;
    switch (plan_) {
      case kReplyAtHead: act(kLocal); break;
      case kStreamAtHead: act(kWhole); break;
      case kAbortAtHead: act(kAbort); break;
      case kBodilessAtHead: bodiless(); break;
      case kLaterPaused: {
        Acting a(this);
        stream_->pause_request();
        break;
      }
      default:
        if (end_stream) at_request_end();
        break;
    }
  }
  void on_request_data(Slice data) override {
    check(got_head_ && !request_ended_ && !ended_);
    check(!data.empty());
    unconsumed_ += data.size();
    if (consume_all_) act(kConsume);
  }
  void on_request_end(const HeaderList* trailers) override {
    check(got_head_ && !request_ended_ && !ended_);
    check(trailers == nullptr || !trailers->empty());
    request_ended_ = true;
    at_request_end();
  }
  void on_response_bytes_sent(uint32_t bytes) override {
    check(!ended_);
    // Only for this handler's own body bytes: reported while they are credited (or
    // at once, inside its own call, when the codec drops them: HEAD, 204, 304).
    check(crediting_party() == this || acting_party() == this);
    credited_ += bytes;
    check(credited_ <= body_sent_);
  }
  void on_downstream_reset() override {
    check(!ended_);
    ended_ = true;
    reset_ = true;
  }
  void on_request_error() override {
    check(got_head_ && !ended_);
    // What the pipeline does: a 400 if nothing was answered yet, else a truncation.
    act(started_ ? kAbort : kLocal);
  }

  void act(uint32_t action) {
    if (ended_) return;
    Acting a(this);
    switch (action) {
      case kHead:
        if (!started_) head();
        break;
      case kData:
        if (started_) data(in_.pick({1u, 7u, 100u, 4096u, 20000u}));
        break;
      case kEnd:
        if (started_) end();
        break;
      case kLocal:
        if (!started_) local();
        break;
      case kAbort:
        ended_ = own_end_ = true;
        stream_->abort_response();
        break;
      case kConsume:
        if (unconsumed_ > 0) {
          uint32_t n = static_cast<uint32_t>(unconsumed_);
          unconsumed_ = 0;
          stream_->consume_request_bytes(n);
        }
        break;
      case kResume:
        stream_->resume_request();
        break;
      case kWhole:
        if (!started_) head();
        if (!ended_) data(in_.pick({0u, 3u, 1000u, 70000u}));
        if (!ended_) end();
        break;
    }
  }

 private:
  void at_request_end() {
    if (plan_ == kReplyAtEnd) act(kLocal);
    if (plan_ == kStreamAtEnd) act(kWhole);
  }
  ResponseHead make_head() {
    ResponseHead h;
    h.status = in_.pick({200, 404, 204, 304, 500, 201, 503, 302});
    h.headers.push_back(Header{"content-type", "text/plain"});
    if (in_.flag()) h.headers.push_back(Header{"x-fuzz", std::string(in_.below(300), 'v')});
    return h;
  }
  void head() {
    ResponseHead h = make_head();
    h.content_length = in_.pick({-1, 0, 5, 1000, 100000});
    declared_ = h.content_length;
    started_ = true;
    bool end_stream = declared_ == 0 && in_.flag();
    if (end_stream) ended_ = own_end_ = true;
    stream_->send_response_head(h, end_stream);
  }
  void bodiless() {
    Acting a(this);
    ResponseHead h = make_head();
    h.content_length = 0;
    started_ = true;
    ended_ = own_end_ = true;
    stream_->send_response_head(h, true);
  }
  void data(uint32_t n) {
    // A declared length is what the handler sends, no more.
    if (declared_ >= 0) n = static_cast<uint32_t>(std::min<int64_t>(n, declared_ - body_sent_));
    if (n == 0) return;
    body_sent_ += n;
    stream_->send_response_data(filler(n, tag_));
  }
  void end() {
    while (declared_ >= 0 && body_sent_ < static_cast<uint64_t>(declared_) && !ended_) {
      data(static_cast<uint32_t>(declared_ - body_sent_));
    }
    if (ended_) return;
    HeaderList trailers;
    bool with_trailers = declared_ < 0 && in_.flag();
    if (with_trailers) trailers.push_back(Header{"x-trailer", "t"});
    ended_ = own_end_ = true;
    stream_->send_response_end(with_trailers ? &trailers : nullptr);
  }
  void local() {
    ResponseHead h = make_head();
    uint32_t n = in_.pick({0u, 17u, 5000u});
    h.content_length = n;
    started_ = true;
    ended_ = own_end_ = true;
    stream_->send_local_reply(h, n ? filler(n, tag_) : Slice());
  }

  FuzzInput& in_;
  ServerStream* stream_;
  uint32_t plan_;
  uint8_t tag_;
  RequestHead head_;  // kept for the handler's lifetime, as the pipeline does
  bool got_head_ = false;
  bool request_ended_ = false;
  bool started_ = false;
  bool ended_ = false;    // exactly one of: own end (reply, end, abort) or reset
  bool own_end_ = false;
  bool reset_ = false;
  bool consume_all_ = true;
  int64_t declared_ = -1;
  uint64_t body_sent_ = 0;
  uint64_t credited_ = 0;
  uint64_t unconsumed_ = 0;

  friend class ServerHarness;
};

class ServerHarness final : public RequestHandlerFactory, public ConnEvents {
 public:
  using MakeCodec = std::function<std::unique_ptr<ServerCodec>(const ServerCodecContext&)>;

  ServerHarness(const uint8_t* data, size_t size) : in_(data, size) {
    reset_party_tags();
    // Small limits, so the input reaches them.
    uint32_t variant = in_.u8();
    limits_.request_header_timeout_ms = 1000;
    limits_.idle_timeout_ms = 5000;
    limits_.send_timeout_ms = 3000;
    limits_.settings_ack_timeout_ms = 2000;
    limits_.max_header_bytes = (variant & 1) ? 512 : 16384;
    limits_.send_queue_bytes = (variant & 2) ? 2048 : 1048576;
    limits_.stream_buffer_bytes = (variant & 4) ? 100 : 65535;
    limits_.connection_window_bytes = (variant & 8) ? 65535 : 1048576;
    limits_.max_concurrent_streams = (variant & 16) ? 2 : 100;
    limits_.http2_max_glitches = (variant & 32) ? 5 : 1000;
    limits_.http2_glitch_refill_per_s = 10;
    limits_.max_memory_bytes = 1 << 20;
    info_.client_address = "192.0.2.1";
    sink_.set_limit(limits_.send_queue_bytes);
  }

  void run(const MakeCodec& make, DownstreamProtocol protocol) {
    info_.protocol = protocol;
    ServerCodecContext ctx{&timers_, &sink_, &limits_, this, &info_, &stats_, &admission_};
    codec_ = make(ctx);
    sink_.end_turn(*this);
    for (int step = 0; step < 4096 && in_.remaining() > 0 && !sink_.done(); ++step) {
      step_once();
      sink_.end_turn(*this);
    }
    // What is still waiting times out or ends with the connection.
    for (int i = 0; i < 4 && !sink_.done(); ++i) {
      timers_.advance(20000);
      sink_.end_turn(*this);
    }
    // The connection's on_closed(): handlers are detached, the codec freed.
    codec_->on_connection_closing();
    codec_.reset();
    for (const auto& h : handlers_) check(h->ended_);
    check(timers_.armed() == 0);
    check(admission_.used == 0 || admission_.used == limits_.max_memory_bytes + 1);
  }

  RequestHandler* new_request(ServerStream* stream, const DownstreamInfo& info) override {
    check(&info == &info_);
    check(!sink_.done());
    uint32_t plan = in_.below(FakeRequestHandler::kPlanCount);
    handlers_.push_back(std::make_unique<FakeRequestHandler>(in_, stream, plan));
    handlers_.back()->consume_all_ = !in_.flag() || plan == FakeRequestHandler::kLater;
    return handlers_.back().get();
  }

  // ConnEvents
  size_t recv(const char* data, size_t len) override { return codec_->on_recv(data, len); }
  void recv_end(int error) override { codec_->on_recv_end(error); }
  void credit(uint32_t id, uint32_t bytes) override { codec_->on_credit(id, bytes); }
  void before_flush() override { codec_->on_before_flush(); }

 private:
  void step_once() {
    static constexpr uint32_t kDelaysMs[] = {1, 50, 999, 1001, 2001, 3001, 5001, 60001};
    uint32_t choice = in_.below(12);
    transport_step(choice, in_, sink_, timers_, kDelaysMs, *this);
    switch (choice) {
      case 7:
      case 8: {
        std::vector<FakeRequestHandler*> waiting;
        for (const auto& h : handlers_) {
          if (h->waiting()) waiting.push_back(h.get());
        }
        if (waiting.empty()) break;
        FakeRequestHandler* h = waiting[in_.below(static_cast<uint32_t>(waiting.size()))];
        h->act(in_.below(FakeRequestHandler::kActionCount));
        break;
      }
      case 9:
        sink_.receive_end(in_.flag() ? -ECONNRESET : 0, *this);
        break;
      case 10:
        codec_->drain();
        break;
      case 11:
        // The shard's memory goes over (or back under) max_memory_bytes.
        admission_.used = admission_.used ? 0 : limits_.max_memory_bytes + 1;
        break;
    }
  }

  FuzzInput in_;
  GatewayConfig limits_;
  ManualTimers timers_;
  MemSink sink_;
  DownstreamInfo info_;
  HttpServerStats stats_;
  MemoryBudget admission_;
  std::unique_ptr<ServerCodec> codec_;
  std::vector<std::unique_ptr<FakeRequestHandler>> handlers_;
};

// --- client side: a request sent upstream, as the input says --------------------

// The clock steps the client harnesses take (transport_step).
inline constexpr uint32_t kClientDelaysMs[] = {1, 999, 1001, 5001, 60001};

class FakeUpstream final : public UpstreamCallbacks {
 public:
  enum Action : uint32_t { kData, kEnd, kCancel, kConsume, kPause, kResume, kActionCount };

  explicit FakeUpstream(FuzzInput& in) : in_(in), tag_(tag_party(this)) {}

  // Ended: a final callback came, the caller cancelled, or the pool took it back.
  bool ended() const { return ended_; }
  bool ready() const { return stream_ != nullptr; }
  void requeued() {
    check(!ended_);
    ended_ = true;
  }

  void on_upstream_ready(UpstreamStream* stream) override {
    check(!ended_ && !stream_);
    stream_ = stream;
    RequestHead h;
    h.method = in_.pick({"GET", "POST", "HEAD", "PUT"});
    h.authority = "upstream.test";
    h.path = "/fuzz";
    h.headers.push_back(Header{"accept", "*/*"});
    bool body = h.method == "POST" || h.method == "PUT";
    h.content_length = body ? in_.pick({-1, 0, 10, 3000}) : -1;
    declared_ = h.content_length;
    bool end_stream = !body || (declared_ == 0 && in_.flag());
    request_done_ = end_stream;
    {
      Acting a(this);
      stream_->send_request_head(h, end_stream);
    }
    if (!ended_ && !end_stream && in_.flag()) act(kEnd);
  }
  void on_upstream_failed(const UpstreamError& error) override {
    check(!ended_);
    check(error.message != nullptr);
    ended_ = true;
  }
  void on_response_head(ResponseHead&, bool end_stream) override {
    check(stream_ && !ended_ && !got_head_);
    got_head_ = true;
    if (end_stream) ended_ = true;
  }
  void on_response_data(Slice data) override {
    check(got_head_ && !ended_);
    check(!data.empty());
    unconsumed_ += data.size();
    if (consume_all_) act(kConsume);
  }
  void on_response_end(const HeaderList* trailers) override {
    check(got_head_ && !ended_);
    check(trailers == nullptr || !trailers->empty());
    ended_ = true;
  }
  void on_request_bytes_sent(uint32_t bytes) override {
    check(!ended_);
    check(crediting_party() == this);
    credited_ += bytes;
    check(credited_ <= body_sent_);
  }

  void act(uint32_t action) {
    if (ended_ || !stream_) return;
    Acting a(this);
    switch (action) {
      case kData:
        if (!request_done_) data(in_.pick({1u, 10u, 2000u, 70000u}));
        break;
      case kEnd:
        if (request_done_) break;
        while (declared_ >= 0 && body_sent_ < static_cast<uint64_t>(declared_) && !ended_) {
          data(static_cast<uint32_t>(declared_ - body_sent_));
        }
        if (ended_) break;
        request_done_ = true;
        if (declared_ < 0 && in_.flag()) {
          HeaderList trailers;
          trailers.push_back(Header{"x-trailer", "t"});
          stream_->send_request_end(&trailers);
        } else {
          stream_->send_request_end(nullptr);
        }
        break;
      case kCancel:
        ended_ = true;
        stream_->cancel();
        break;
      case kConsume:
        if (unconsumed_ > 0) {
          uint32_t n = static_cast<uint32_t>(unconsumed_);
          unconsumed_ = 0;
          stream_->consume_response_bytes(n);
        }
        break;
      case kPause:
        stream_->pause_response();
        break;
      case kResume:
        stream_->resume_response();
        break;
    }
  }

  bool consume_all_ = true;

 private:
  void data(uint32_t n) {
    if (declared_ >= 0) n = static_cast<uint32_t>(std::min<int64_t>(n, declared_ - body_sent_));
    if (n == 0) return;
    body_sent_ += n;
    stream_->send_request_data(filler(n, tag_));
  }

  FuzzInput& in_;
  uint8_t tag_;
  UpstreamStream* stream_ = nullptr;
  bool got_head_ = false;
  bool ended_ = false;
  bool request_done_ = false;
  int64_t declared_ = -1;
  uint64_t body_sent_ = 0;
  uint64_t credited_ = 0;
  uint64_t unconsumed_ = 0;
};

inline UpstreamLimits fuzz_upstream_limits(uint32_t variant) {
  UpstreamLimits l;
  l.connect_timeout_ms = 1000;
  l.idle_timeout_ms = 5000;
  l.max_header_bytes = (variant & 1) ? 512 : 16384;
  l.stream_buffer_bytes = (variant & 2) ? 100 : 65535;
  l.connection_window_bytes = (variant & 4) ? 65535 : 1048576;
  l.send_queue_bytes = (variant & 8) ? 2048 : 1048576;
  l.send_timeout_ms = 3000;
  return l;
}

// A client codec's connection events, through its TcpConn::Handler interface.
template <class Handler>
class ClientEvents final : public ConnEvents {
 public:
  explicit ClientEvents(Handler* h) : h_(h) {}
  size_t recv(const char* data, size_t len) override { return h_->on_recv(data, len); }
  void recv_end(int error) override { h_->on_recv_end(error); }
  void credit(uint32_t id, uint32_t bytes) override { h_->on_credit(id, bytes); }
  void before_flush() override { h_->on_before_flush(); }

 private:
  Handler* h_;
};

}  // namespace ringway::fuzz
