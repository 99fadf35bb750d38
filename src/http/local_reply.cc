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

}  // namespace

int local_reply_http_status(LocalReplyCause cause) {
  switch (cause) {
    case LocalReplyCause::NoRoute: return 404;
    case LocalReplyCause::Unauthenticated: return 401;
    case LocalReplyCause::Forbidden: return 403;
    case LocalReplyCause::PluginFailed: return 500;
    case LocalReplyCause::UpstreamUnavailable: return 502;
    case LocalReplyCause::UpstreamOverloaded: return 503;
    case LocalReplyCause::UpstreamTimeout: return 504;
    case LocalReplyCause::BadRequest: return 400;
    case LocalReplyCause::PayloadTooLarge: return 413;
    case LocalReplyCause::HeadersTooLarge: return 431;
    case LocalReplyCause::RequestTimeout: return 408;
    case LocalReplyCause::ServiceUnavailable: return 503;
  }
  return 500;
}

int local_reply_grpc_status(LocalReplyCause cause) {
  switch (cause) {
    case LocalReplyCause::NoRoute: return 12;          // UNIMPLEMENTED
    case LocalReplyCause::Unauthenticated: return 16;  // UNAUTHENTICATED
    case LocalReplyCause::Forbidden: return 7;         // PERMISSION_DENIED
    case LocalReplyCause::PluginFailed: return 13;     // INTERNAL
    case LocalReplyCause::UpstreamUnavailable: return 14;  // UNAVAILABLE
    case LocalReplyCause::UpstreamOverloaded: return 14;
    case LocalReplyCause::UpstreamTimeout: return 4;   // DEADLINE_EXCEEDED
    case LocalReplyCause::BadRequest: return 13;
    case LocalReplyCause::PayloadTooLarge: return 13;
    case LocalReplyCause::HeadersTooLarge: return 13;
    case LocalReplyCause::RequestTimeout: return 4;
    case LocalReplyCause::ServiceUnavailable: return 14;
  }
  return 13;
}

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

LocalReply make_local_reply(LocalReplyCause cause, std::string_view message, bool grpc) {
  LocalReply reply;
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
