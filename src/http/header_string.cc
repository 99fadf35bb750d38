#include "http/header_string.h"

#include <nghttp2/nghttp2.h>

namespace ringway {

HeaderString HeaderString::from_rcbuf(nghttp2_rcbuf* rc) {
  HeaderString s;
  s.rc_ = rc;
  s.ref();
  return s;
}

void HeaderString::ref() {
  if (rc_) nghttp2_rcbuf_incref(rc_);
}

void HeaderString::unref() {
  if (rc_) {
    nghttp2_rcbuf_decref(rc_);
    rc_ = nullptr;
  }
}

std::string_view HeaderString::view() const {
  if (!rc_) return str_;
  nghttp2_vec v = nghttp2_rcbuf_get_buf(rc_);
  return std::string_view(reinterpret_cast<const char*>(v.base), v.len);
}

HeaderString& HeaderString::operator+=(std::string_view s) {
  if (rc_) {
    std::string owned(view());
    unref();
    str_ = std::move(owned);
  }
  str_ += s;
  return *this;
}

}  // namespace ringway
