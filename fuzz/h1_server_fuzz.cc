// Http1Server over an in-memory connection (fuzz/codec_fuzz_support.h): the payload
// is what a client sends, cut into receives of the sizes the input picks, between
// timer advances, sends (credits) and handler actions. Handlers answer every way a
// real one may (local reply, streamed response, abort, later, paused).
// Invariants (a violation traps): no write after the codec closed its connection;
// input not consumed only while paused; every handler gets exactly one end (its own
// reply/end/abort, or a reset), no request events after it; response-bytes credits
// go to the handler whose bytes they were, never more than it sent; no timer left
// armed once the codec is gone.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "codec_fuzz_support.h"
#include "http1/h1_server.h"

using namespace ringway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return -1;
  fuzz::ServerHarness harness(data, size);
  harness.run(
      [](const ServerCodecContext& ctx) -> std::unique_ptr<ServerCodec> {
        return std::make_unique<Http1Server>(ctx);
      },
      DownstreamProtocol::kHttp1);
  return 0;
}
