#include "http1/h1_request_checks.h"

#include <arpa/inet.h>

#include <cstring>

#include "http/message.h"

namespace ringway {
namespace {

constexpr std::string_view kTransferEncoding = "transfer-encoding";

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 unreserved / sub-delims: what a reg-name holds besides pct-encodings.
bool is_reg_name_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  return c != '\0' && std::strchr("-._~!$&'()*+,;=", c) != nullptr;
}

bool is_valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  uint32_t value = 0;
  for (char c : port) {
    if (!is_digit(c)) return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value <= 65535;
}

}  // namespace

void H1HeadScanner::start_request_line() {
  state_ = State::kLine;
  in_name_ = false;
  te_ows_ = false;
  error_ = nullptr;
}

void H1HeadScanner::start_field_lines() {
  error_ = nullptr;
  start_field_line();
}

void H1HeadScanner::start_field_line() {
  state_ = State::kLine;
  in_name_ = true;
  te_name_ = true;
  te_ows_ = false;
  name_len_ = 0;
  ows_ = 0;
}

H1HeadScanner::Result H1HeadScanner::bad(const char* why) {
  state_ = State::kIdle;
  error_ = why;
  return Result::kBad;
}

H1HeadScanner::Result H1HeadScanner::scan(const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    char c = data[i];
    switch (state_) {
      case State::kIdle:
        return Result::kDone;
      case State::kCr:
        if (c != '\n') return bad("CR without LF in the request head");
        state_ = State::kLineStart;
        continue;
      case State::kEndCr:
        if (c != '\n') return bad("CR without LF in the request head");
        state_ = State::kIdle;
        return Result::kDone;
      case State::kLineStart:
        if (c == '\r') {
          state_ = State::kEndCr;
          continue;
        }
        if (c == ' ' || c == '\t') return bad("obs-fold (a header line starting with whitespace)");
        start_field_line();
        break;  // the line's first byte, checked below
      case State::kLine:
        break;
    }
    // Inside a line.
    if (c == '\r') {
      state_ = State::kCr;
    } else if (c == '\n') {
      return bad("LF without CR in the request head");
    } else if (c == '\0') {
      return bad("NUL in the request head");
    } else if (in_name_) {
      if (c == ':') {
        if (name_len_ == 0) return bad("empty header name");
        in_name_ = false;
        te_ows_ = te_name_ && name_len_ == kTransferEncoding.size();
      } else if (c == ' ' || c == '\t') {
        return bad("whitespace in a header name or before its colon");
      } else {
        te_name_ = te_name_ && name_len_ < kTransferEncoding.size() &&
                   lower(c) == kTransferEncoding[name_len_];
        if (name_len_ < 255) ++name_len_;
      }
    } else if (te_ows_) {
      if (c == '\t' || (c == ' ' && ++ows_ > 1)) {
        return bad("Transfer-Encoding with whitespace other than one SP before its value");
      }
      te_ows_ = c == ' ';
    }
  }
  return Result::kMore;
}

bool is_valid_host(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view literal = host.substr(1, close - 1);
    char text[INET6_ADDRSTRLEN];
    if (literal.empty() || literal.size() >= sizeof text) return false;
    std::memcpy(text, literal.data(), literal.size());
    text[literal.size()] = '\0';
    in6_addr address;
    if (inet_pton(AF_INET6, text, &address) != 1) return false;
    std::string_view rest = host.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && is_valid_port(rest.substr(1)));
  }
  size_t colon = host.find(':');
  std::string_view name = host.substr(0, colon);
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%') {
      if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2])) return false;
      i += 2;
    } else if (!is_reg_name_char(name[i])) {
      return false;
    }
  }
  return colon == std::string_view::npos || is_valid_port(host.substr(colon + 1));
}

namespace {
std::string_view without_default_port(std::string_view authority, std::string_view scheme) {
  std::string_view port = scheme == "https" ? ":443" : ":80";
  if (authority.size() > port.size() && authority.ends_with(port)) {
    authority.remove_suffix(port.size());
  }
  return authority;
}
}  // namespace

bool same_authority(std::string_view a, std::string_view b, std::string_view scheme) {
  return iequals(without_default_port(a, scheme), without_default_port(b, scheme));
}

}  // namespace ringway
