// Http1ClientConn driven over an in-memory connection (attach_sink): requests are
// bound to it as its pool would (one at a time, the next once it is released), the
// payload is what the upstream answers, cut into receives of the sizes the input
// picks, between timer advances, sends (credits) and the caller's actions (body,
// cancel, pause/resume).
// Invariants (a violation traps): no write after the connection was closed; input
// not consumed only while paused; every request gets exactly one end
// (on_response_end, a bodiless head, on_upstream_failed) unless its caller cancelled,
// and no callback after it; request-bytes credits go to the request whose bytes they
// were, never more than it sent; the pool is told of the close; no timer left armed.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "codec_fuzz_support.h"
#include "http1/h1_client.h"
#include "io/loop.h"

using namespace ringway;
using fuzz::check;

namespace {

struct FakePool final : public Http1ClientConn::Owner {
  void on_connect_result(bool) override {}
  void release(Http1ClientConn* c) override {
    check(c == conn && !closing);
    idle = true;
  }
  void on_conn_closing(Http1ClientConn* c) override {
    check(c == conn);
    closing = true;
    idle = false;
  }
  void on_conn_closed(Http1ClientConn* c) override {
    check(c == conn && !closed);
    closed = true;
  }
  Http1ClientConn* conn = nullptr;
  bool idle = false;
  bool closing = false;
  bool closed = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return -1;
  fuzz::FuzzInput in(data, size);
  fuzz::reset_party_tags();
  UpstreamLimits limits = fuzz::fuzz_upstream_limits(in.u8());
  Loop loop;  // only for the TcpConn member: never initialised, never run
  fuzz::ManualTimers timers;
  fuzz::MemSink sink;
  sink.set_limit(limits.send_queue_bytes);
  UpstreamConnStats stats;
  FakePool pool;
  std::vector<std::unique_ptr<fuzz::FakeUpstream>> requests;
  {
    ClientCodecContext ctx{&loop, &timers, &limits, &stats, nullptr};
    auto* conn = new Http1ClientConn(ctx, &pool);
    pool.conn = conn;
    conn->attach_sink(&sink);
    TcpConn::Handler* handler = conn;
    fuzz::ClientEvents<TcpConn::Handler> events(handler);
    handler->on_connected(0);
    check(pool.idle);
    auto assign = [&] {
      requests.push_back(std::make_unique<fuzz::FakeUpstream>(in));
      requests.back()->consume_all_ = true;
      pool.idle = false;
      conn->assign(requests.back().get());
    };
    assign();
    sink.end_turn(events);
    for (int step = 0; step < 4096 && in.remaining() > 0 && !sink.done(); ++step) {
      uint32_t choice = in.below(11);
      fuzz::transport_step(choice, in, sink, timers, fuzz::kClientDelaysMs, events);
      switch (choice) {
        case 7:
          if (!requests.empty()) requests.back()->act(in.below(fuzz::FakeUpstream::kActionCount));
          break;
        case 8:
          sink.receive_end(in.flag() ? -ECONNRESET : 0, events);
          break;
        case 9:
          // The pool reuses the idle connection (or closes it: idle timeout, shutdown).
          if (pool.idle && !sink.closing()) {
            if (in.u8() % 4 == 3) {
              conn->close();
            } else {
              assign();
            }
          }
          break;
        case 10:
          if (!requests.empty()) requests.back()->act(fuzz::FakeUpstream::kEnd);
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
