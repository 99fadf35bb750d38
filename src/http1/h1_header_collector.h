#pragma once
// Assembles header fields from llhttp's callbacks (a name or value may arrive in
// several pieces when it spans receive buffers) and counts the head's bytes against a
// limit. Every field also costs 32 bytes, as HTTP/2 counts decoded sizes, which
// bounds the number of fields as well as their size. Shared by the HTTP/1.1 server
// and client codecs.

#include <cstddef>
#include <string>

#include "http/message.h"
#include "http1/h1_serialize.h"

namespace ringway {

class H1HeaderCollector {
 public:
  static constexpr size_t kFieldOverheadBytes = 32;

  // Starts a new head (request or response) with |limit_bytes| allowed.
  void reset(size_t limit_bytes) {
    field_.clear();
    value_.clear();
    in_value_ = false;
    bytes_ = 0;
    limit_bytes_ = limit_bytes;
  }
  // Counts bytes of the head that are not fields (the request target). False when
  // the limit is passed.
  bool add_bytes(size_t n) {
    bytes_ += n;
    return bytes_ <= limit_bytes_;
  }
  bool on_field(const char* at, size_t len) {
    if (in_value_) {
      field_.clear();
      value_.clear();
      in_value_ = false;
    }
    field_.append(at, len);
    return add_bytes(len);
  }
  bool on_value(const char* at, size_t len) {
    in_value_ = true;
    value_.append(at, len);
    return add_bytes(len);
  }
  // The field is complete: appended to |into| with a lower-case name.
  bool on_value_complete(HeaderList& into) {
    ascii_lower(field_);
    into.push_back(Header{std::move(field_), std::move(value_)});
    field_.clear();
    value_.clear();
    in_value_ = false;
    return add_bytes(kFieldOverheadBytes);
  }

 private:
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  size_t bytes_ = 0;
  size_t limit_bytes_ = 0;
};

}  // namespace ringway
