#pragma once
// Request checks llhttp 8.1 does not make (it is lenient where RFC 9112 lets a
// recipient choose, and a proxy must not choose leniency: a lenient front and a
// strict back end disagree on where a request ends).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringway {

// Scans the raw bytes of a request head, or of a chunked body's trailer section,
// ahead of llhttp and stops at the empty line that ends it, so body bytes and the
// next pipelined request are never looked at. It rejects what llhttp accepts:
// obs-fold (a line starting with SP or HTAB, RFC 9112 §5.2), a CR not followed by LF
// and an LF not preceded by CR (§2.2), whitespace between a field name and its colon
// (§5.1), an empty field name, NUL, and a Transfer-Encoding line with anything but at most one SP
// before its value (a classic smuggling obfuscation).
class H1HeadScanner {
 public:
  enum class Result : uint8_t { kMore, kDone, kBad };

  // At the first byte of a request line.
  void start_request_line();
  // At the first byte of the first field line (trailers).
  void start_field_lines();
  // Between a start_*() and the end of the section (or an error).
  bool active() const { return state_ != State::kIdle; }
  // Scans the next bytes of the section. kDone: the section ended in these bytes
  // (the rest was not looked at); kMore: it goes on; kBad: see error().
  Result scan(const char* data, size_t len);
  const char* error() const { return error_; }

 private:
  enum class State : uint8_t { kIdle, kLine, kCr, kLineStart, kEndCr };

  Result bad(const char* why);
  void start_field_line();

  State state_ = State::kIdle;
  bool in_name_ = false;     // a field line, before its colon
  bool te_name_ = false;     // the name so far is a prefix of "transfer-encoding"
  bool te_ows_ = false;      // right after the colon of a Transfer-Encoding line
  uint8_t name_len_ = 0;     // capped: only compared with 17
  uint8_t ows_ = 0;          // SPs seen in te_ows_
  const char* error_ = nullptr;
};

// A Host header value (or the authority of an absolute-form target): RFC 3986
// host (reg-name, IPv4 or a bracketed IPv6 address) and an optional port of 1..5
// digits up to 65535. No userinfo, no spaces or control characters, not empty.
bool is_valid_host(std::string_view host);

// The authority of an absolute-form target and the Host header name the same
// origin: equal ignoring case, or equal once |scheme|'s default port is dropped.
bool same_authority(std::string_view a, std::string_view b, std::string_view scheme);

}  // namespace ringway
