#pragma once
// HTTP/1.1 head serialization (parsing is llhttp's job). No I/O.

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace ringway {

const char* http_reason_phrase(int status);

enum class BodyFraming : uint8_t { None, ContentLength, Chunked, UntilClose };

// "HTTP/1.1 200 OK\r\n" + headers + framing header + connection header + "\r\n".
// Headers named content-length / transfer-encoding / connection in |head| are
// skipped: framing is decided by the caller.
void append_response_head(std::string& out, const ResponseHead& head, BodyFraming framing,
                          uint64_t content_length, bool keep_alive);

// "METHOD path HTTP/1.1\r\nhost: authority\r\n" + headers + framing + "\r\n".
void append_request_head(std::string& out, const RequestHead& head, BodyFraming framing,
                         uint64_t content_length);

// "1a2b\r\n" for a chunk of |size| bytes; returns the length written into |out| (>= 19).
size_t format_chunk_header(char* out, uint64_t size);

// "0\r\n" + trailers + "\r\n".
void append_last_chunk(std::string& out, const HeaderList* trailers);

// Lower-cases ASCII in place.
void ascii_lower(std::string& s);

}  // namespace ringway
