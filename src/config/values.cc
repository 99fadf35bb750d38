#include "config/values.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include <arpa/inet.h>
#include <netdb.h>

namespace ringway {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && to_lower(a) == to_lower(b);
}

// Value parsers. Each returns false and fills |why| with a message naming the key.

bool parse_bool(std::string_view value, bool& out) {
  std::string v = to_lower(value);
  if (v == "true" || v == "yes" || v == "on" || v == "1") {
    out = true;
    return true;
  }
  if (v == "false" || v == "no" || v == "off" || v == "0") {
    out = false;
    return true;
  }
  return false;
}

// Whole decimal numbers only: no sign, no suffix, no hex.
bool parse_uint(std::string_view key, std::string_view value, uint64_t min, uint64_t max,
                uint64_t& out, std::string& why) {
  std::string range = std::to_string(min) + " and " + std::to_string(max);
  bool negative = !value.empty() && value.front() == '-';
  std::string_view digits = negative ? value.substr(1) : value;
  bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (!all_digits) {
    why = std::string(key) + ": '" + std::string(value) + "' is not a whole number (expected " +
          range + ")";
    return false;
  }
  uint64_t parsed = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
  (void)ptr;
  if (negative || ec == std::errc::result_out_of_range || parsed < min || parsed > max) {
    why = std::string(key) + " must be between " + range + ", got " + std::string(value);
    return false;
  }
  out = parsed;
  return true;
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_';
}

// "host:port", "[v6]:port"; the port is optional when |default_port| is non-zero.
// |host| comes back without brackets.
bool split_host_port(std::string_view text, uint16_t default_port, std::string& host,
                     uint16_t& port, bool& is_ipv6, std::string& why) {
  std::string_view port_text;
  is_ipv6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = "'" + std::string(text) + "' is missing the ']' that closes the IPv6 address";
      return false;
    }
    host = std::string(text.substr(1, close - 1));
    is_ipv6 = true;
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        why = "unexpected text after ']' in '" + std::string(text) + "'";
        return false;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        why = "'" + std::string(text) + "' has an empty port";
        return false;
      }
    }
    if (host.find(':') == std::string::npos) {
      why = "'" + host + "' in brackets is not an IPv6 address";
      return false;
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      why = "'" + std::string(text) + "': write IPv6 addresses in brackets, e.g. [::1]:8080";
      return false;
    }
    host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) {
        why = "'" + std::string(text) + "' has an empty port";
        return false;
      }
    }
    if (!std::all_of(host.begin(), host.end(), is_host_char)) {
      why = "'" + host + "' is not a valid host name or address";
      return false;
    }
  }
  if (host.empty()) {
    why = "'" + std::string(text) + "' has no host";
    return false;
  }
  if (port_text.empty()) {
    if (default_port == 0) {
      why = "'" + std::string(text) + "' has no port (expected host:port)";
      return false;
    }
    port = default_port;
    return true;
  }
  uint64_t value = 0;
  std::string port_why;
  if (!parse_uint("port", port_text, 1, 65535, value, port_why)) {
    why = "'" + std::string(text) + "': port must be between 1 and 65535";
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// Numeric addresses first (no DNS traffic for the common case), then names.
bool resolve(const std::string& host, uint16_t port, bool passive, SockAddr& out,
             std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  std::string service = std::to_string(port);
  addrinfo* result = nullptr;
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc == EAI_NONAME) {
    hints.ai_flags &= ~AI_NUMERICHOST;
    rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  }
  if (rc != 0 || result == nullptr) {
    why = "cannot resolve '" + host + "': " + (rc == EAI_SYSTEM ? std::strerror(errno)
                                                                 : gai_strerror(rc));
    if (result != nullptr) freeaddrinfo(result);
    return false;
  }
  std::memcpy(&out.storage, result->ai_addr, result->ai_addrlen);
  out.len = static_cast<socklen_t>(result->ai_addrlen);
  freeaddrinfo(result);
  return true;
}

bool parse_target_url(std::string_view text, TargetUrl& target, std::string& why) {
  size_t scheme_end = text.find("://");
  std::string scheme = scheme_end == std::string_view::npos
                           ? std::string()
                           : to_lower(text.substr(0, scheme_end));
  // https:// becomes HTTP/2 later if the API sets proxy_enable_http2.
  if (scheme == "http" || scheme == "https") {
    target.protocol = UpstreamProtocol::Http1;
    target.tls = scheme == "https";
  } else if (scheme == "h2c") {
    target.protocol = UpstreamProtocol::Http2;
  } else {
    why = "target_url '" + std::string(text) + "' must start with http://, https:// or h2c://";
    return false;
  }
  std::string_view rest = text.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    why = "target_url must not carry a query or fragment";
    return false;
  }
  if (std::any_of(rest.begin(), rest.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    why = "target_url must not contain spaces or control characters";
    return false;
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    why = "target_url must not contain user information ('@')";
    return false;
  }
  const uint16_t kDefaultPort = target.tls ? 443 : 80;
  bool is_ipv6 = false;
  std::string host_why;
  if (!split_host_port(authority, kDefaultPort, target.host, target.port, is_ipv6, host_why)) {
    why = "target_url: " + host_why;
    return false;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  target.base_path = std::string(path);
  std::string bracketed = is_ipv6 ? "[" + target.host + "]" : target.host;
  target.authority = bracketed;
  if (target.port != kDefaultPort) target.authority += ":" + std::to_string(target.port);
  target.address.text = bracketed + ":" + std::to_string(target.port);
  if (!resolve(target.host, target.port, false, target.address, host_why)) {
    why = "target_url: " + host_why;
    return false;
  }
  return true;
}

std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    items.push_back(trim(text.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return items;
}


std::vector<SockAddr> parse_listen_list(std::string_view key, std::string_view value,
                                        std::vector<std::string>& whys) {
  std::vector<SockAddr> listen;
  std::set<std::string> seen;
  for (std::string_view item : split_list(value)) {
    if (item.empty()) {
      whys.push_back(std::string(key) + ": empty address in '" + std::string(value) + "'");
      continue;
    }
    SockAddr address;
    address.text = std::string(item);
    std::string host, why;
    uint16_t port = 0;
    bool is_ipv6 = false;
    if (!split_host_port(item, 0, host, port, is_ipv6, why) ||
        !resolve(host, port, true, address, why)) {
      whys.push_back(std::string(key) + ": " + why);
      continue;
    }
    if (!seen.insert(address.text).second) {
      whys.push_back(std::string(key) + ": " + address.text + " is listed twice");
      continue;
    }
    listen.push_back(std::move(address));
  }
  return listen;
}

}  // namespace ringway

namespace ringway {
namespace {

// Parses a numeric address into |bytes| (4 or 16 of them); returns the family or 0.
int parse_numeric_address(std::string_view text, uint8_t (&bytes)[16]) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return 0;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (inet_pton(AF_INET, buf, bytes) == 1) return AF_INET;
  if (inet_pton(AF_INET6, buf, bytes) == 1) return AF_INET6;
  return 0;
}

bool prefix_matches(const uint8_t* a, const uint8_t* b, unsigned bits) {
  unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool parse_ip_prefix(std::string_view text, IpPrefix& out, std::string& why) {
  text = trim(text);
  std::string_view address = text;
  std::string_view length;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    length = text.substr(slash + 1);
  }
  out = IpPrefix{};
  out.family = parse_numeric_address(address, out.bytes);
  if (out.family == 0) {
    why = "'" + std::string(text) + "' is not an IP address or address/prefix-length";
    return false;
  }
  unsigned max_bits = out.family == AF_INET ? 32 : 128;
  uint64_t bits = max_bits;
  if (!length.empty() || text.find('/') != std::string_view::npos) {
    std::string ignored;
    if (!parse_uint("prefix length", length, 0, max_bits, bits, ignored)) {
      why = "'" + std::string(text) + "': the prefix length must be 0.." +
            std::to_string(max_bits);
      return false;
    }
  }
  out.prefix_len = static_cast<uint8_t>(bits);
  uint8_t masked[16];
  std::memcpy(masked, out.bytes, sizeof masked);
  for (unsigned bit = out.prefix_len; bit < max_bits; ++bit) {
    masked[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  if (std::memcmp(masked, out.bytes, max_bits / 8) != 0) {
    why = "'" + std::string(text) + "' has bits set after the prefix length";
    return false;
  }
  out.text = std::string(text);
  return true;
}

bool IpPrefix::contains(std::string_view address) const {
  uint8_t bytes[16] = {};
  int fam = parse_numeric_address(address, bytes);
  if (fam == family) return prefix_matches(bytes, this->bytes, prefix_len);
  // An IPv4 client seen on an IPv6 socket (::ffff:a.b.c.d) against an IPv4 block.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (fam == AF_INET6 && family == AF_INET && std::memcmp(bytes, kMapped, 12) == 0) {
    return prefix_matches(bytes + 12, this->bytes, prefix_len);
  }
  return false;
}

}  // namespace ringway
