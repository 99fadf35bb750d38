#pragma once
// A header name or value: either owned text, or a reference to an nghttp2 rcbuf
// (the decoded bytes nghttp2 already holds, e.g. in its HPACK table). Headers that
// arrive over HTTP/2 are kept as rcbufs and handed on without being copied into
// strings; anything Ringway writes or rewrites becomes owned text. Rcbuf reference
// counts are not atomic: a HeaderString never leaves its shard.

#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

struct nghttp2_rcbuf;

namespace ringway {

class HeaderString {
 public:
  HeaderString() = default;
  HeaderString(std::string s) : str_(std::move(s)) {}  // NOLINT: implicit by design
  HeaderString(std::string_view s) : str_(s) {}       // NOLINT
  HeaderString(const char* s) : str_(s) {}            // NOLINT
  // Takes a new reference to |rc|.
  static HeaderString from_rcbuf(nghttp2_rcbuf* rc);

  HeaderString(const HeaderString& other) : str_(other.str_), rc_(other.rc_) { ref(); }
  HeaderString(HeaderString&& other) noexcept : str_(std::move(other.str_)), rc_(other.rc_) {
    other.rc_ = nullptr;
  }
  HeaderString& operator=(const HeaderString& other) {
    if (this != &other) {
      HeaderString copy(other);
      swap(copy);
    }
    return *this;
  }
  HeaderString& operator=(HeaderString&& other) noexcept {
    if (this != &other) {
      unref();
      str_ = std::move(other.str_);
      rc_ = other.rc_;
      other.rc_ = nullptr;
    }
    return *this;
  }
  HeaderString& operator=(std::string s) {
    unref();
    str_ = std::move(s);
    return *this;
  }
  HeaderString& operator=(const char* s) { return *this = std::string(s); }
  ~HeaderString() { unref(); }

  // Appending turns a referenced value into owned text first.
  HeaderString& operator+=(std::string_view s);

  std::string_view view() const;
  operator std::string_view() const { return view(); }  // NOLINT: implicit by design
  const char* data() const { return view().data(); }
  size_t size() const { return view().size(); }
  bool empty() const { return size() == 0; }
  std::string str() const { return std::string(view()); }
  bool is_rcbuf() const { return rc_ != nullptr; }

  friend bool operator==(const HeaderString& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(std::string_view a, const HeaderString& b) { return a == b.view(); }
  friend bool operator==(const HeaderString& a, const HeaderString& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const HeaderString& a, const char* b) { return a.view() == b; }
  friend bool operator==(const HeaderString& a, const std::string& b) { return a.view() == b; }
  friend bool operator!=(const HeaderString& a, const std::string& b) { return !(a == b); }
  friend bool operator!=(const HeaderString& a, std::string_view b) { return !(a == b); }
  friend bool operator!=(const HeaderString& a, const char* b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, const HeaderString& s) {
    return os << s.view();
  }

 private:
  void ref();
  void unref();
  void swap(HeaderString& other) {
    std::swap(str_, other.str_);
    std::swap(rc_, other.rc_);
  }

  std::string str_;
  nghttp2_rcbuf* rc_ = nullptr;
};

}  // namespace ringway
