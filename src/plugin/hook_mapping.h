#pragma once
// Between the gateway's request model and the coprocess messages a rich plugin sees
// (Tyk's BuildObject and ObjectPostProcess, COPROCESS.md §2.2–2.3): what a hook is
// sent about the request and the key, how its reply changes the request, and what a
// return override answers. Pure functions; the hook filters call them.

#include <string>
#include <string_view>

#include "coprocess_object.pb.h"
#include "http/message.h"
#include "store/session.h"

namespace ringway {

// Go's CanonicalMIMEHeaderKey, as Tyk presents header names to plugins:
// "content-type" -> "Content-Type", "x-api-key" -> "X-Api-Key". A name with a byte
// outside the token characters is returned unchanged.
std::string canonical_header_key(std::string_view name);

// The request as a hook sees it: headers (canonical names, first value, Host added),
// url and request_uri (path and query), method, scheme, params (the query's, first
// value, decoded), raw_body (and body when it is UTF-8 text), and
// return_overrides.response_code = -1 ("no override"), as Tyk sends it.
void build_mini_request(const RequestHead& head, std::string_view scheme,
                        std::string_view raw_body, coprocess::MiniRequestObject* out);

// Applies a hook's reply to the request (Tyk's order): delete_headers, then
// set_headers; the query without delete_params and with add_params; url and method as
// returned. |body| becomes raw_body when |replace_body| (not for streamed bodies).
// False, with |error|, when the returned url is empty or not a path.
bool apply_request_changes(const coprocess::MiniRequestObject& reply, RequestHead& head,
                           std::string* body, bool replace_body, std::string* error);

// What a plugin may put on the wire (a plugin must not be able to split a request or
// response: no CR, LF or NUL, header names and methods are tokens, URLs and hosts
// have no spaces or control bytes).
bool is_valid_header_name(std::string_view name);
bool is_valid_header_value(std::string_view value);
// False with |why| naming the first offending header.
bool headers_are_valid(const HeaderList& headers, std::string* why);

// What a return override answers (COPROCESS.md §2.3 matrix).
struct OverrideReply {
  bool active = false;  // response_code > 0
  int status = 0;
  std::string body;
  HeaderList headers;  // lower-case names
};
OverrideReply decide_override(const coprocess::ReturnOverrides& overrides);

// Sessions both ways (the fields both sides have; Tyk's metadata values are text).
void to_coprocess_session(const SessionState& in, std::string_view key_id,
                          coprocess::SessionState* out);
void from_coprocess_session(const coprocess::SessionState& in, SessionState* out);

}  // namespace ringway
