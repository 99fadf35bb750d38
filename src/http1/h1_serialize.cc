#include "http1/h1_serialize.h"

#include <cstdio>

namespace ringway {

const char* http_reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

namespace {
bool is_framing_header(std::string_view name) {
  return name == "content-length" || name == "transfer-encoding" || name == "connection";
}

void append_headers(std::string& out, const HeaderList& headers) {
  for (const Header& h : headers) {
    if (is_framing_header(h.name)) continue;
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
}

void append_framing(std::string& out, BodyFraming framing, uint64_t content_length) {
  if (framing == BodyFraming::ContentLength) {
    char buf[48];
    int n = snprintf(buf, sizeof(buf), "content-length: %llu\r\n",
                     static_cast<unsigned long long>(content_length));
    out.append(buf, static_cast<size_t>(n));
  } else if (framing == BodyFraming::Chunked) {
    out.append("transfer-encoding: chunked\r\n");
  }
}
}  // namespace

void append_response_head(std::string& out, const ResponseHead& head, BodyFraming framing,
                          uint64_t content_length, bool keep_alive) {
  char line[64];
  int n = snprintf(line, sizeof(line), "HTTP/1.1 %d ", head.status);
  out.append(line, static_cast<size_t>(n));
  out.append(http_reason_phrase(head.status));
  out.append("\r\n");
  append_headers(out, head.headers);
  append_framing(out, framing, content_length);
  if (!keep_alive) out.append("connection: close\r\n");
  out.append("\r\n");
}

void append_request_head(std::string& out, const RequestHead& head, BodyFraming framing,
                         uint64_t content_length) {
  out.append(head.method);
  out.push_back(' ');
  out.append(head.path);
  out.append(" HTTP/1.1\r\nhost: ");
  out.append(head.authority);
  out.append("\r\n");
  append_headers(out, head.headers);
  append_framing(out, framing, content_length);
  out.append("\r\n");
}

size_t format_chunk_header(char* out, uint64_t size) {
  return static_cast<size_t>(snprintf(out, 24, "%llx\r\n", static_cast<unsigned long long>(size)));
}

void append_last_chunk(std::string& out, const HeaderList* trailers) {
  out.append("0\r\n");
  if (trailers) append_headers(out, *trailers);
  out.append("\r\n");
}

void ascii_lower(std::string& s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

}  // namespace ringway
