#pragma once
// Protocol-neutral request/response heads shared by the HTTP/1.1 and HTTP/2 codecs.
// Header names are stored lower-case (HTTP/2 form); pseudo-headers live in fields.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_string.h"

namespace ringway {

struct Header {
  HeaderString name;  // lower-case
  HeaderString value;
};

using HeaderList = std::vector<Header>;

// Header lists are reserved for this many fields up front: growing a vector of
// strings one field at a time cost ~5% of a proxied request (callgrind).
constexpr size_t kExpectedHeaderCount = 16;

struct RequestHead {
  std::string method;
  std::string scheme = "http";
  std::string authority;  // Host header (HTTP/1.1) or :authority (HTTP/2)
  std::string path;       // origin-form target including query
  HeaderList headers;     // regular headers, without host
  int64_t content_length = -1;  // -1 when unknown / absent
  bool http10 = false;          // downstream spoke HTTP/1.0
};

struct ResponseHead {
  int status = 0;
  HeaderList headers;           // regular headers
  int64_t content_length = -1;  // -1 when unknown / absent
};

// Finds a header by lower-case name; null when absent.
const Header* find_header(const HeaderList& headers, std::string_view name);

// Removes every header named |name| (lower-case).
void remove_headers(HeaderList& headers, std::string_view name);

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);

// True for content-type values that start with "application/grpc".
bool is_grpc_content_type(std::string_view content_type);

}  // namespace ringway
