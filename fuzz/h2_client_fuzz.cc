// Http2ClientConn driven over an in-memory connection (attach_sink): a few requests
// are added before and after the connection is up, the payload is what the upstream
// sends (after a canned server SETTINGS when the input says so), cut into receives
// of the sizes the input picks, between timer advances, sends (credits) and the
// callers' actions (body, cancel, consume).
// Invariants (a violation traps): no write after the connection was closed; every
// request gets exactly one end (on_response_end, a bodiless head,
// on_upstream_failed, or handed back to the pool) unless its caller cancelled, and
// no callback after it; request-bytes credits go to the request whose bytes they
// were, never more than it sent; the pool is told of the close; no timer left armed.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "codec_fuzz_support.h"
#include "http2/h2_client.h"
#include "io/loop.h"

using namespace ringway;
using fuzz::check;

namespace {

struct FakePool final : public Http2ClientConn::Owner {
  void on_connect_result(bool) override {}
  uint32_t peer_stream_limit() const override { return limit; }
  void on_peer_stream_limit(uint32_t l) override { (void)l; }
  void on_capacity() override {}
  void on_conn_unavailable(Http2ClientConn* c) override { check(c == conn); }
  void on_conn_closed(Http2ClientConn* c) override {
    check(c == conn && !closed);
    closed = true;
  }
  void request_stream(UpstreamCallbacks* callbacks) override {
    // Placed elsewhere by the pool: this connection is done with it.
    static_cast<fuzz::FakeUpstream*>(callbacks)->requeued();
  }
  Http2ClientConn* conn = nullptr;
  uint32_t limit = 100;
  bool closed = false;
};

// An empty SETTINGS frame: what a server sends first.
constexpr char kServerSettings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return -1;
  fuzz::FuzzInput in(data, size);
  fuzz::reset_party_tags();
  uint32_t variant = in.u8();
  UpstreamLimits limits = fuzz::fuzz_upstream_limits(variant);
  Loop loop;  // only for the TcpConn member: never initialised, never run
  fuzz::ManualTimers timers;
  fuzz::MemSink sink;
  sink.set_limit(limits.send_queue_bytes);
  UpstreamConnStats stats;
  FakePool pool;
  pool.limit = (variant & 16) ? 1 : 100;
  std::vector<std::unique_ptr<fuzz::FakeUpstream>> requests;
  {
    ClientCodecContext ctx{&loop, &timers, &limits, &stats, nullptr};
    auto* conn = new Http2ClientConn(ctx, &pool);
    pool.conn = conn;
    conn->attach_sink(&sink);
    TcpConn::Handler* handler = conn;
    fuzz::ClientEvents<TcpConn::Handler> events(handler);
    auto add = [&] {
      requests.push_back(std::make_unique<fuzz::FakeUpstream>(in));
      requests.back()->consume_all_ = !in.flag();
      conn->add_request(requests.back().get());
    };
    add();
    handler->on_connected(0);
    sink.end_turn(events);
    if (!(variant & 32)) sink.receive(std::string_view(kServerSettings, 9), events);
    sink.end_turn(events);
    for (int step = 0; step < 4096 && in.remaining() > 0 && !sink.done(); ++step) {
      uint32_t choice = in.below(11);
      fuzz::transport_step(choice, in, sink, timers, fuzz::kClientDelaysMs, events);
      switch (choice) {
        case 7: {
          std::vector<fuzz::FakeUpstream*> live;
          for (const auto& r : requests) {
            if (!r->ended() && r->ready()) live.push_back(r.get());
          }
          if (live.empty()) break;
          live[in.below(static_cast<uint32_t>(live.size()))]->act(
              in.below(fuzz::FakeUpstream::kActionCount));
          break;
        }
        case 8:
          sink.receive_end(in.flag() ? -ECONNRESET : 0, events);
          break;
        case 9:
          // The pool places another request here if it has room.
          if (requests.size() < 64 && conn->has_capacity()) add();
          break;
        case 10:
          conn->shutdown();
          break;
      }
      sink.end_turn(events);
    }
    // The upstream goes away; then the connection's on_closed() frees it.
    if (!sink.done()) handler->on_recv_end(-ECONNRESET);
    check(sink.done());
    handler->on_closed();
  }
  check(pool.closed);
  for (const auto& r : requests) check(r->ended());
  check(timers.armed() == 0);
  return 0;
}
