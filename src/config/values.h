#pragma once
// Value parsers shared by the configuration's sections. Each returns false and fills
// |why| with a message naming what was wrong.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace ringway {

bool is_blank(char c);
std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);
bool iequals_ascii(std::string_view a, std::string_view b);
// true/false, yes/no, on/off, 1/0 (any case).
bool parse_bool(std::string_view value, bool& out);
// Whole decimal numbers only: no sign, no suffix, no hex.
bool parse_uint(std::string_view key, std::string_view value, uint64_t min, uint64_t max,
                uint64_t& out, std::string& why);
bool is_host_char(char c);
// "host:port", "[v6]:port"; the port is optional when |default_port| is non-zero.
// |host| comes back without brackets.
bool split_host_port(std::string_view text, uint16_t default_port, std::string& host,
                     uint16_t& port, bool& is_ipv6, std::string& why);
// Numeric addresses first (no DNS traffic for the common case), then names.
bool resolve(const std::string& host, uint16_t port, bool passive, SockAddr& out,
             std::string& why);
bool parse_target_url(std::string_view text, TargetUrl& target, std::string& why);
// Comma-separated items, each trimmed (empty items are kept, for messages).
std::vector<std::string_view> split_list(std::string_view text);
// A comma-separated list of listen addresses (host:port, [v6]:port), resolved;
// every problem is appended to |whys|.
std::vector<SockAddr> parse_listen_list(std::string_view key, std::string_view value,
                                        std::vector<std::string>& whys);

// "10.0.0.0/8", "::1", "fd00::/8" (no prefix length: the single address). Host bits
// set below the prefix are an error (a typo more often than intended).
bool parse_ip_prefix(std::string_view text, IpPrefix& out, std::string& why);

}  // namespace ringway
