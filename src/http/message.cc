#include "http/message.h"

namespace ringway {
namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

const Header* find_header(const HeaderList& headers, std::string_view name) {
  for (const Header& header : headers) {
    if (header.name == name) return &header;
  }
  return nullptr;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  }
  return true;
}

bool is_grpc_content_type(std::string_view content_type) {
  constexpr std::string_view kGrpc = "application/grpc";
  return content_type.size() >= kGrpc.size() && iequals(content_type.substr(0, kGrpc.size()), kGrpc);
}

void remove_headers(HeaderList& headers, std::string_view name) {
  std::erase_if(headers, [name](const Header& h) { return h.name == name; });
}

}  // namespace ringway
