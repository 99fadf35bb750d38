#pragma once
// Pieces shared by the HTTP/2 server and client sessions: the outbound body queue
// behind nghttp2's data provider (DATA payloads are sent without copies:
// NGHTTP2_DATA_FLAG_NO_COPY, then the send_data_callback queues the 9-byte frame
// header and the payload slices on the socket), and header-list helpers.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "http/message.h"
#include "mem/slice.h"
#include "mem/slice_queue.h"

namespace ringway {

class ByteSink;

struct OutboundBody {
  SliceQueue chunks;
  size_t bytes = 0;
  bool end = false;            // no more chunks will be added
  bool deferred = false;       // the provider returned NGHTTP2_ERR_DEFERRED
  bool has_trailers = false;
  HeaderList trailers;

  // Bytes wait here for the peer's flow-control window, possibly for long: when
  // receive buffers are scarce they are copied rather than pinned.
  void push(Slice s);
};

// nghttp2 data provider callback: |source->ptr| is an OutboundBody*. Never copies:
// sets NGHTTP2_DATA_FLAG_NO_COPY; submits trailers when the body ends with them.
ssize_t outbound_body_read(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                           size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                           void* user_data);

// Takes exactly |length| payload bytes from the front of |body| as slices (the last
// one may be split: both halves reference the same buffer) and hands each to |emit|.
// No payload byte is copied.
template <class Emit>
void take_body_bytes(OutboundBody& body, size_t length, Emit&& emit) {
  while (length > 0) {
    Slice& front = body.chunks.front();
    if (front.size() <= length) {
      length -= front.size();
      body.bytes -= front.size();
      emit(body.chunks.pop_front());
    } else {
      Slice part = front.prefix(static_cast<uint32_t>(length));
      front.advance(static_cast<uint32_t>(length));
      body.bytes -= length;
      length = 0;
      emit(std::move(part));
    }
  }
}

// Queues one DATA frame on |tcp|: the frame header (copied, 9 bytes) and exactly
// |length| payload bytes taken from |body| as slices credited to |credit_id|.
void write_data_frame(ByteSink& out, OutboundBody& body, const uint8_t* framehd, size_t length,
                      uint32_t credit_id);

// Builds an nghttp2_nv array pointing into |headers| (which must outlive the call
// that uses it). Names are already lower-case.
void append_nv(std::vector<nghttp2_nv>& nva, const HeaderList& headers);
nghttp2_nv make_nv(const std::string& name, const std::string& value);
nghttp2_nv make_nv(const HeaderString& name, const HeaderString& value);
nghttp2_nv make_nv(const char* name, size_t name_len, const char* value, size_t value_len);

// A received header field as views of nghttp2's rcbufs, with its decoded size as
// HPACK bombs are measured (name + value + 32), which both sessions count against
// max_header_bytes.
struct DecodedField {
  std::string_view name;
  std::string_view value;
  size_t cost;
};
DecodedField decoded_field(nghttp2_rcbuf* name, nghttp2_rcbuf* value);

// Wakes a stream whose provider is deferred.
void resume_body(nghttp2_session* session, int32_t stream_id, OutboundBody& body);

// Drains nghttp2's output into |tcp|. Returns false on a fatal session error.
bool pump_session_output(nghttp2_session* session, ByteSink& out, uint64_t* written = nullptr);

// A peer's HTTP/2 misbehaviour budget ("glitches": resets it makes us send, empty
// frames, PRIORITY, stray WINDOW_UPDATE, SETTINGS floods), as nghttp2 >= 1.57 and Envoy
// keep one: |max| tokens refilled at |per_s|; once they are spent the connection ends
// with GOAWAY(ENHANCE_YOUR_CALM).
class GlitchBudget {
 public:
  void start(uint32_t max, uint64_t now_ms) {
    tokens_ = max;
    refill_ms_ = now_ms;
  }
  // Takes a token; false when none is left.
  bool take(uint64_t now_ms, uint32_t max, uint32_t per_s);

 private:
  uint32_t tokens_ = 0;
  uint64_t refill_ms_ = 0;
};

// Whether a frame header starting to arrive is a glitch in itself (empty DATA or
// CONTINUATION that ends nothing, PRIORITY, SETTINGS, WINDOW_UPDATE for a stream we
// do not have). Per-side rules (resets, PINGs) are the callers'.
bool frame_is_glitch(nghttp2_session* session, const nghttp2_frame_hd& hd);

}  // namespace ringway
