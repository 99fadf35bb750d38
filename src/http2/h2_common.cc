#include "http2/h2_common.h"

#include <algorithm>

#include "base/log.h"
#include "io/buffer_ring.h"
#include "net/byte_sink.h"

namespace ringway {

void OutboundBody::push(Slice s) {
  if (s.pins_scarce_buffer()) s.detach();
  bytes += s.size();
  chunks.push_back(std::move(s));
}

ssize_t outbound_body_read(nghttp2_session* session, int32_t stream_id, uint8_t*, size_t length,
                           uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* body = static_cast<OutboundBody*>(source->ptr);
  if (body->bytes == 0) {
    if (!body->end) {
      body->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  } else {
    if (length > body->bytes) length = body->bytes;
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (body->end && length == body->bytes) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  if ((*data_flags & NGHTTP2_DATA_FLAG_EOF) && body->has_trailers) {
    std::vector<nghttp2_nv> nva;
    append_nv(nva, body->trailers);
    if (nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()) == 0) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    body->has_trailers = false;
  }
  return static_cast<ssize_t>(body->bytes == 0 ? 0 : length);
}

void write_data_frame(ByteSink& out, OutboundBody& body, const uint8_t* framehd, size_t length,
                      uint32_t credit_id) {
  out.write_copy(reinterpret_cast<const char*>(framehd), 9);
  take_body_bytes(body, length, [&](Slice s) { out.write(std::move(s), credit_id); });
}

nghttp2_nv make_nv(const char* name, size_t name_len, const char* value, size_t value_len) {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name));
  nv.namelen = name_len;
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value));
  nv.valuelen = value_len;
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

nghttp2_nv make_nv(const std::string& name, const std::string& value) {
  return make_nv(name.data(), name.size(), value.data(), value.size());
}

nghttp2_nv make_nv(const HeaderString& name, const HeaderString& value) {
  std::string_view n = name.view();
  std::string_view v = value.view();
  return make_nv(n.data(), n.size(), v.data(), v.size());
}

void append_nv(std::vector<nghttp2_nv>& nva, const HeaderList& headers) {
  for (const Header& h : headers) nva.push_back(make_nv(h.name, h.value));
}

DecodedField decoded_field(nghttp2_rcbuf* name, nghttp2_rcbuf* value) {
  nghttp2_vec n = nghttp2_rcbuf_get_buf(name);
  nghttp2_vec v = nghttp2_rcbuf_get_buf(value);
  return DecodedField{std::string_view(reinterpret_cast<const char*>(n.base), n.len),
                      std::string_view(reinterpret_cast<const char*>(v.base), v.len),
                      n.len + v.len + 32};
}

void resume_body(nghttp2_session* session, int32_t stream_id, OutboundBody& body) {
  if (body.deferred) {
    body.deferred = false;
    nghttp2_session_resume_data(session, stream_id);
  }
}

bool pump_session_output(nghttp2_session* session, ByteSink& out, uint64_t* written) {
  // Past the connection's send-queue limit the frames stay in the session (and its
  // caps on unsent acknowledgements apply) until the peer reads.
  while (!out.output_full()) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) {
      RW_LOG(Debug, "nghttp2_session_mem_send: %s", nghttp2_strerror(static_cast<int>(n)));
      return false;
    }
    if (n == 0) return true;
    if (written) *written += static_cast<uint64_t>(n);
    out.write_copy(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return true;
}

bool GlitchBudget::take(uint64_t now_ms, uint32_t max, uint32_t per_s) {
  uint64_t refill = static_cast<uint64_t>(per_s) * (now_ms - refill_ms_) / 1000;
  if (refill > 0) {
    tokens_ = static_cast<uint32_t>(std::min<uint64_t>(max, tokens_ + refill));
    refill_ms_ = now_ms;
  }
  if (tokens_ == 0) return false;
  --tokens_;
  return true;
}

bool frame_is_glitch(nghttp2_session* session, const nghttp2_frame_hd& hd) {
  switch (hd.type) {
    case NGHTTP2_DATA:
      // Empty DATA that does not end the stream moves nothing forward.
      return hd.length == 0 && !(hd.flags & NGHTTP2_FLAG_END_STREAM);
    case NGHTTP2_CONTINUATION:
      return hd.length == 0 && !(hd.flags & NGHTTP2_FLAG_END_HEADERS);
    case NGHTTP2_PRIORITY:
      return true;  // deprecated (RFC 9113 §5.3.2); nothing here uses it
    case NGHTTP2_SETTINGS:
      return !(hd.flags & NGHTTP2_FLAG_ACK);
    case NGHTTP2_WINDOW_UPDATE:
      // For a stream that is not open there is nothing to send.
      return hd.stream_id != 0 && !nghttp2_session_get_stream_user_data(session, hd.stream_id);
    default:
      return false;
  }
}

}  // namespace ringway
