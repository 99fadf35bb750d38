#include "pipeline/rewrite.h"

#include <string>
#include <vector>

#include "route/router.h"

namespace ringway {
namespace {

bool is_list_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_list_item(std::string_view item) {
  while (!item.empty() && is_list_space(item.front())) item.remove_prefix(1);
  while (!item.empty() && is_list_space(item.back())) item.remove_suffix(1);
  return item;
}

// Calls |fn| with each comma-separated token of a header value, parameters
// (";q=...") cut off; stops early when |fn| returns true.
template <typename Fn>
bool any_token(std::string_view value, Fn fn) {
  while (true) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    item = trim_list_item(item.substr(0, item.find(';')));
    if (!item.empty() && fn(item)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

// Always connection-specific (RFC 9110 §7.6.1, RFC 9113 §8.2.2). `te` is handled
// separately because "te: trailers" may cross to an HTTP/2 upstream.
bool is_fixed_hop_by_hop(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "http2-settings";
}

// |name| is |wanted| (lower case, with '-'), also when spelled with '_' for '-':
// CGI-style upstreams map both spellings to the same variable.
bool same_name_any_dash(std::string_view name, std::string_view wanted) {
  if (name.size() != wanted.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i] == '_' ? '-' : name[i];
    if (c != wanted[i]) return false;
  }
  return true;
}

}  // namespace

void strip_hop_by_hop(HeaderList& headers, bool keep_te_trailers) {
  // Headers a Connection header names; copied because compaction below moves strings.
  std::vector<std::string> named;
  for (const Header& header : headers) {
    if (header.name != "connection") continue;
    any_token(header.value, [&](std::string_view token) {
      if (iequals(token, "close") || iequals(token, "keep-alive")) return false;
      std::string lower(token);
      for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      named.push_back(std::move(lower));
      return false;
    });
  }

  bool te_kept = false;
  size_t out = 0;
  for (size_t i = 0; i < headers.size(); ++i) {
    Header& header = headers[i];
    bool drop;
    if (header.name == "te") {
      // Only "trailers" is allowed in HTTP/2 (RFC 9113 §8.2.2); gRPC servers need it.
      bool keep = keep_te_trailers && !te_kept &&
                  any_token(header.value, [](std::string_view t) { return iequals(t, "trailers"); });
      if (keep) {
        header.value = "trailers";
        te_kept = true;
      }
      drop = !keep;
    } else {
      drop = is_fixed_hop_by_hop(header.name);
      for (size_t n = 0; !drop && n < named.size(); ++n) drop = header.name == named[n];
    }
    if (drop) continue;
    if (out != i) headers[out] = std::move(header);
    ++out;
  }
  headers.resize(out);
}

bool is_client_identity_header(std::string_view name) {
  return same_name_any_dash(name, kClientCertSha256Header) ||
         same_name_any_dash(name, kClientCertSubjectHeader);
}

bool strip_client_identity_headers(HeaderList& headers) {
  size_t before = headers.size();
  std::erase_if(headers, [](const Header& h) { return is_client_identity_header(h.name); });
  return headers.size() != before;
}

void rewrite_request_for_upstream(RequestHead& request, const ApiConfig& api,
                                  const ForwardContext& context) {
  request.path = upstream_path(api, request.path);
  strip_hop_by_hop(request.headers, api.target.protocol == UpstreamProtocol::Http2);
  // Identity headers are the gateway's to set: drop whatever the client sent.
  strip_client_identity_headers(request.headers);
  if (context.client_cert && context.client_cert->state == ClientCertState::kVerified) {
    request.headers.push_back({kClientCertSha256Header, context.client_cert->sha256});
    request.headers.push_back({kClientCertSubjectHeader, context.client_cert->subject});
  }

  if (!context.trusted_proxy) {
    // Only a trusted proxy may say who the client is or how it connected.
    std::erase_if(request.headers, [](const Header& h) {
      return same_name_any_dash(h.name, "x-forwarded-for") ||
             same_name_any_dash(h.name, "x-forwarded-proto");
    });
  }
  if (!context.client_address.empty()) {
    // Appended to the last x-forwarded-for line: repeated lines form one list in order.
    Header* forwarded_for = nullptr;
    for (Header& header : request.headers) {
      if (header.name == "x-forwarded-for") forwarded_for = &header;
    }
    if (forwarded_for == nullptr) {
      request.headers.push_back({"x-forwarded-for", std::string(context.client_address)});
    } else if (trim_list_item(forwarded_for->value).empty()) {
      forwarded_for->value = std::string(context.client_address);
    } else {
      forwarded_for->value += ", ";
      forwarded_for->value += context.client_address;
    }
  }
  // An earlier proxy (e.g. a TLS-terminating load balancer) knows the real scheme.
  if (!context.client_scheme.empty() && find_header(request.headers, "x-forwarded-proto") == nullptr) {
    request.headers.push_back({"x-forwarded-proto", std::string(context.client_scheme)});
  }
  // An HTTP/1.0 request may have no Host to preserve; the upstream still needs one.
  if (!api.preserve_host_header || request.authority.empty()) {
    request.authority = api.target.authority;
  }
}

void rewrite_response_for_downstream(ResponseHead& response) {
  strip_hop_by_hop(response.headers, false);
}

}  // namespace ringway
