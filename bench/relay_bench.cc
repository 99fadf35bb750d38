// The HTTP/2 DATA relay path (DESIGN.md §3.3): payload bytes received on one side are
// queued as slices on an nghttp2 stream of the other side and leave as
// [9-byte frame header, payload slice] iovecs through the send_data_callback, with
// NGHTTP2_DATA_FLAG_NO_COPY. BM_RelayZeroCopy runs exactly that code
// (OutboundBody, outbound_body_read, take_body_bytes); BM_RelayCopying is the same
// relay with nghttp2 copying the payload into its frame buffer and the frame then
// copied into a send buffer (what nghttp2_session_mem_send alone would cost).
// A real nghttp2 server session is driven; only the socket is replaced by a sink.

#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nghttp2/nghttp2.h>
#include <sys/uio.h>

#include "http2/h2_common.h"
#include "mem/slice.h"

namespace ringway {
namespace {

constexpr uint32_t kMaxWindow = 0x7fffffff;

struct Sink {
  bool zero_copy = true;
  std::vector<iovec> iov;       // what a sendmsg would be given
  std::vector<Slice> held;      // references kept until "sent"
  std::string copied;           // copying variant: the send buffer
  uint64_t payload_bytes = 0;
  uint64_t since_window_update = 0;
};

// Client preface, SETTINGS (max initial window), connection WINDOW_UPDATE and a GET
// HEADERS for stream 1, produced by a real nghttp2 client session.
std::string client_opening() {
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session* client;
  nghttp2_session_client_new(&client, cb, nullptr);
  nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kMaxWindow}};
  nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, s, 1);
  nghttp2_submit_window_update(client, NGHTTP2_FLAG_NONE, 0, kMaxWindow - 65535);
  nghttp2_nv nva[] = {make_nv(":method", 7, "GET", 3), make_nv(":scheme", 7, "http", 4),
                      make_nv(":authority", 10, "bench", 5), make_nv(":path", 5, "/", 1)};
  nghttp2_submit_request(client, nullptr, nva, 4, nullptr, nullptr);
  std::string out;
  const uint8_t* data;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(client, &data)) > 0) {
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  nghttp2_session_del(client);
  nghttp2_session_callbacks_del(cb);
  return out;
}

std::string window_update(int32_t stream_id, uint32_t increment) {
  uint8_t f[13] = {0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  f[5] = static_cast<uint8_t>(stream_id >> 24);
  f[6] = static_cast<uint8_t>(stream_id >> 16);
  f[7] = static_cast<uint8_t>(stream_id >> 8);
  f[8] = static_cast<uint8_t>(stream_id);
  f[9] = static_cast<uint8_t>(increment >> 24);
  f[10] = static_cast<uint8_t>(increment >> 16);
  f[11] = static_cast<uint8_t>(increment >> 8);
  f[12] = static_cast<uint8_t>(increment);
  return std::string(reinterpret_cast<char*>(f), 13);
}

int send_data_zero_copy(nghttp2_session*, nghttp2_frame*, const uint8_t* framehd, size_t length,
                        nghttp2_data_source* source, void* user_data) {
  auto* sink = static_cast<Sink*>(user_data);
  auto* body = static_cast<OutboundBody*>(source->ptr);
  // The frame header is the only copy (9 bytes), as TcpConn::write_copy does.
  Slice hd = Slice::copy_of(reinterpret_cast<const char*>(framehd), 9);
  sink->iov.push_back({const_cast<char*>(hd.data()), hd.size()});
  sink->held.push_back(std::move(hd));
  if (sink->zero_copy) {
    take_body_bytes(*body, length, [&](Slice s) {
      sink->iov.push_back({const_cast<char*>(s.data()), s.size()});
      sink->held.push_back(std::move(s));
    });
  } else {
    size_t at = sink->copied.size();
    sink->copied.resize(at + length);
    take_body_bytes(*body, length, [&](Slice s) {
      memcpy(&sink->copied[at], s.data(), s.size());
      at += s.size();
    });
    sink->iov.push_back({sink->copied.data(), sink->copied.size()});
  }
  sink->payload_bytes += length;
  sink->since_window_update += length;
  return 0;
}

class Relay {
 public:
  explicit Relay(bool zero_copy) {
    sink_.zero_copy = zero_copy;
    sink_.copied.reserve(1 << 20);
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_data_callback(cb, send_data_zero_copy);
    nghttp2_session_server_new(&session_, cb, &sink_);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, s, 1);
    std::string opening = client_opening();
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(opening.data()),
                             opening.size());
    nghttp2_data_provider provider;
    provider.source.ptr = &body_;
    provider.read_callback = outbound_body_read;
    nghttp2_nv nva[] = {make_nv(":status", 7, "200", 3)};
    nghttp2_submit_response(session_, 1, nva, 1, &provider);
    drain();
  }
  ~Relay() { nghttp2_session_del(session_); }

  // One received payload relayed: queued on the stream, framed, handed to the sink.
  void relay(const Slice& payload) {
    body_.push(payload.share());
    resume_body(session_, 1, body_);
    drain();
    if (sink_.since_window_update > (1u << 30)) {
      // The peer would have granted more window long ago; grant it now.
      std::string wu = window_update(0, static_cast<uint32_t>(sink_.since_window_update)) +
                       window_update(1, static_cast<uint32_t>(sink_.since_window_update));
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(wu.data()), wu.size());
      sink_.since_window_update = 0;
    }
  }
  uint64_t payload_bytes() const { return sink_.payload_bytes; }

 private:
  void drain() {
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      benchmark::DoNotOptimize(data);  // control frames; DATA goes through the callback
    }
    // "sendmsg" completed: drop the references and iovecs.
    benchmark::DoNotOptimize(sink_.iov.data());
    sink_.iov.clear();
    sink_.held.clear();
    sink_.copied.clear();
  }

  nghttp2_session* session_ = nullptr;
  OutboundBody body_;
  Sink sink_;
};

void run(benchmark::State& state, bool zero_copy) {
  std::string bytes(static_cast<size_t>(state.range(0)), 'x');
  Slice payload = Slice::copy_of(bytes.data(), static_cast<uint32_t>(bytes.size()));
  Relay relay(zero_copy);
  for (auto _ : state) relay.relay(payload);
  state.SetBytesProcessed(static_cast<int64_t>(relay.payload_bytes()));
  state.counters["payload_per_iter"] =
      static_cast<double>(relay.payload_bytes()) / static_cast<double>(state.iterations());
}

void BM_RelayZeroCopy(benchmark::State& state) { run(state, true); }
void BM_RelayCopying(benchmark::State& state) { run(state, false); }
BENCHMARK(BM_RelayZeroCopy)->Arg(1024)->Arg(16384);
BENCHMARK(BM_RelayCopying)->Arg(1024)->Arg(16384);

}  // namespace
}  // namespace ringway

BENCHMARK_MAIN();
