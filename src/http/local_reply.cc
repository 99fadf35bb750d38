#include "http/local_reply.h"

#include <string>

namespace ringway {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// Length of the valid UTF-8 sequence at |s|[0], or 0 when it is not one (overlong
// forms, surrogates and code points above U+10FFFF are rejected).
size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char lead = byte(0);
  size_t length;
  uint32_t min_code_point;
  uint32_t code_point;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    min_code_point = 0x80;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    min_code_point = 0x800;
    code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    min_code_point = 0x10000;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3F);
  }
  if (code_point < min_code_point || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t length = utf8_sequence_length(text.substr(i));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// Messages may quote request bytes (a path), so the body must stay valid JSON for any
// input: control characters are escaped and invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else if (c >= 0x80) {
      size_t length = utf8_sequence_length(text.substr(i));
      if (length == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(text.substr(i, length));
      i += length;
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

namespace {
struct CauseInfo {
  int http;
  int grpc;
  const char* flag;
  const char* label;
};
// Indexed by LocalReplyCause.
constexpr CauseInfo kCauses[] = {
    {404, 12, "NR", "no_route"},                   // UNIMPLEMENTED
    {401, 16, "UA", "unauthenticated"},            // UNAUTHENTICATED
    {403, 7, "PD", "forbidden"},                   // PERMISSION_DENIED
    {500, 13, "PF", "plugin_failed"},              // INTERNAL
    {502, 14, "UF", "upstream_connect_failure"},   // UNAVAILABLE
    {502, 14, "UR", "upstream_reset"},
    {502, 14, "UPE", "upstream_protocol_error"},
    {503, 14, "UO", "upstream_overloaded"},
    {504, 4, "UT", "upstream_timeout"},            // DEADLINE_EXCEEDED
    {504, 4, "DE", "deadline_exceeded"},
    {400, 13, "DPE", "bad_request"},
    {413, 13, "TL", "payload_too_large"},
    {431, 13, "TL", "headers_too_large"},
    {408, 4, "RT", "request_timeout"},
    {503, 14, "SD", "service_unavailable"},
    {403, 16, "UA", "key_rejected"},
    {400, 16, "UA", "malformed_credentials"},
    {429, 8, "RL", "rate_limited"},                // RESOURCE_EXHAUSTED
    {403, 8, "QE", "quota_exceeded"},
    {503, 14, "AU", "auth_unavailable"},
    {413, 8, "TL", "request_body_too_large"},      // as gRPC's own message size limit
    {414, 13, "TL", "uri_too_long"},
};
static_assert(sizeof(kCauses) / sizeof(kCauses[0]) == kLocalReplyCauseCount,
              "one entry per LocalReplyCause");

const CauseInfo& info(LocalReplyCause cause) {
  size_t i = static_cast<size_t>(cause);
  return kCauses[i < kLocalReplyCauseCount ? i : static_cast<size_t>(LocalReplyCause::BadRequest)];
}
}  // namespace

int local_reply_http_status(LocalReplyCause cause) { return info(cause).http; }
int local_reply_grpc_status(LocalReplyCause cause) { return info(cause).grpc; }
const char* local_reply_flag(LocalReplyCause cause) { return info(cause).flag; }
const char* local_reply_label(LocalReplyCause cause) { return info(cause).label; }

std::string grpc_percent_encode(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (char ch : message) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  return out;
}

LocalReply make_local_reply(LocalReplyCause cause, std::string_view message, bool grpc,
                            const HeaderList* extra) {
  LocalReply reply;
  if (extra) reply.head.headers = *extra;
  if (grpc) {
    // Trailers-only: everything in the one HEADERS block, no body (gRPC over HTTP/2).
    // No content-length either, as gRPC servers send none on such a response.
    reply.head.status = 200;
    reply.head.content_length = -1;
    reply.head.headers.push_back({"content-type", "application/grpc"});
    reply.head.headers.push_back({"grpc-status", std::to_string(local_reply_grpc_status(cause))});
    if (!message.empty()) {
      reply.head.headers.push_back({"grpc-message", grpc_percent_encode(message)});
    }
    return reply;
  }
  reply.head.status = local_reply_http_status(cause);
  reply.body.reserve(message.size() + 16);
  reply.body += "{\"error\": ";
  append_json_string(reply.body, message);
  reply.body += '}';
  reply.head.content_length = static_cast<int64_t>(reply.body.size());
  reply.head.headers.push_back({"content-type", "application/json"});
  reply.head.headers.push_back({"content-length", std::to_string(reply.body.size())});
  return reply;
}

}  // namespace ringway
