#pragma once
// Header rewriting at the proxy boundary: hop-by-hop headers never cross it,
// x-forwarded-* are added, and Host/:authority is chosen the way Tyk does.

#include <string_view>

#include "config/config.h"
#include "http/downstream.h"
#include "http/message.h"

namespace ringway {

struct ForwardContext {
  std::string_view client_address;  // the downstream peer's IP address, no port
  std::string_view client_scheme;   // "http" or "https": the downstream protocol
  const ClientCert* client_cert = nullptr;  // TLS connections
  // The client is a proxy in [gateway] trusted_proxies (DownstreamInfo::trusted_proxy).
  bool trusted_proxy = false;
};

// Request headers that carry the verified client certificate to the upstream (and
// to plugins). The gateway sets them; a client can never supply them.
inline constexpr std::string_view kClientCertSha256Header = "x-client-cert-sha256";
inline constexpr std::string_view kClientCertSubjectHeader = "x-client-cert-subject";

// True for the headers above, also spelled with '_' for '-' (CGI-style upstreams map
// both spellings to the same variable). Names are lower-case here.
bool is_client_identity_header(std::string_view name);
// Removes them; returns true when there was one (used for request trailers too).
bool strip_client_identity_headers(HeaderList& headers);

// Removes connection-specific headers: connection, keep-alive, proxy-connection,
// transfer-encoding, upgrade, te, http2-settings, and any header named by a
// Connection header's tokens. When |keep_te_trailers| is true (HTTP/2 upstream), a
// `te` header that contains the token "trailers" is kept as exactly "te: trailers".
void strip_hop_by_hop(HeaderList& headers, bool keep_te_trailers);

// Prepares a downstream request for |api|'s upstream:
// - path rewritten with upstream_path() (strip_listen_path, target base path);
// - hop-by-hop headers removed (te: trailers kept for an HTTP/2 upstream);
// - from a trusted proxy, x-forwarded-for gets the client address appended (", "
//   separated, created when absent) and x-forwarded-proto is set to the client
//   scheme when absent; from any other client both are replaced by the address and
//   scheme the gateway saw (a client must not choose the address an upstream logs
//   or rate-limits, nor claim https over cleartext; '_' spellings go too);
// - authority becomes the target's authority unless preserve_host_header is set;
// - x-client-cert-sha256 / x-client-cert-subject removed, then set from a verified
//   client certificate.
void rewrite_request_for_upstream(RequestHead& request, const ApiConfig& api,
                                  const ForwardContext& context);

// Removes hop-by-hop headers from an upstream response before it goes downstream.
void rewrite_response_for_downstream(ResponseHead& response);

}  // namespace ringway
