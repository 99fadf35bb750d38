#include "pipeline/rewrite.h"

#include <string>

#include <gtest/gtest.h>

namespace ringway {
namespace {

// "name: value" lines in order, to compare whole header lists at once.
std::vector<std::string> lines(const HeaderList& headers) {
  std::vector<std::string> out;
  for (const Header& header : headers) out.push_back(header.name.str() + ": " + header.value.str());
  return out;
}

using Lines = std::vector<std::string>;

ApiConfig make_api(UpstreamProtocol protocol = UpstreamProtocol::Http1) {
  ApiConfig api;
  api.name = "orders";
  api.listen_path = "/orders";
  api.target.protocol = protocol;
  api.target.host = "10.0.0.5";
  api.target.port = 8081;
  api.target.authority = "10.0.0.5:8081";
  api.use_keyless = true;
  return api;
}

RequestHead make_request() {
  RequestHead request;
  request.method = "GET";
  request.authority = "gateway.example.com";
  request.path = "/orders/42?expand=1";
  return request;
}

// A client that is not a trusted proxy, and one that is.
const ForwardContext kContext{"192.0.2.7", "http"};
const ForwardContext kTrusted{"192.0.2.7", "http", nullptr, true};

TEST(StripHopByHop, RemovesConnectionSpecificHeaders) {
  HeaderList headers = {{"accept", "*/*"},
                        {"connection", "keep-alive"},
                        {"keep-alive", "timeout=5"},
                        {"proxy-connection", "keep-alive"},
                        {"transfer-encoding", "chunked"},
                        {"upgrade", "h2c"},
                        {"http2-settings", "AAMAAABkAAQAAP__"},
                        {"te", "gzip"},
                        {"x-request-id", "abc"}};
  strip_hop_by_hop(headers, false);
  EXPECT_EQ(lines(headers), (Lines{"accept: */*", "x-request-id: abc"}));
}

TEST(StripHopByHop, RemovesHeadersNamedByConnectionTokens) {
  HeaderList headers = {{"connection", "close, X-Debug-Token ,x-trace"},
                        {"x-debug-token", "secret"},
                        {"x-trace", "1"},
                        {"connection", "Upgrade,\tX-Other"},
                        {"x-other", "y"},
                        {"x-keep", "z"},
                        {"x-trace-id", "not named"}};
  strip_hop_by_hop(headers, false);
  EXPECT_EQ(lines(headers), (Lines{"x-keep: z", "x-trace-id: not named"}));
}

TEST(StripHopByHop, DropsTeForHttp1Upstream) {
  HeaderList headers = {{"te", "trailers"}, {"accept", "*/*"}};
  strip_hop_by_hop(headers, false);
  EXPECT_EQ(lines(headers), (Lines{"accept: */*"}));
}

TEST(StripHopByHop, KeepsTeTrailersOnlyForHttp2Upstream) {
  HeaderList headers = {{"te", "deflate;q=0.5, Trailers"}, {"accept", "*/*"}};
  strip_hop_by_hop(headers, true);
  EXPECT_EQ(lines(headers), (Lines{"te: trailers", "accept: */*"}));

  headers = {{"te", "gzip"}, {"accept", "*/*"}};
  strip_hop_by_hop(headers, true);
  EXPECT_EQ(lines(headers), (Lines{"accept: */*"}));

  // "connection: te" (as HTTP/1.1 clients send with TE) does not cost gRPC its te.
  headers = {{"connection", "te"}, {"te", "trailers"}, {"te", "trailers"}};
  strip_hop_by_hop(headers, true);
  EXPECT_EQ(lines(headers), (Lines{"te: trailers"}));
}

TEST(StripHopByHop, LeavesCleanListUntouched) {
  HeaderList headers = {{"content-type", "application/grpc"}, {"grpc-timeout", "1S"}};
  strip_hop_by_hop(headers, true);
  EXPECT_EQ(lines(headers), (Lines{"content-type: application/grpc", "grpc-timeout: 1S"}));
}

TEST(RewriteRequest, CreatesXForwardedForAndProto) {
  RequestHead request = make_request();
  request.headers = {{"accept", "*/*"}};
  rewrite_request_for_upstream(request, make_api(), kContext);
  EXPECT_EQ(lines(request.headers),
            (Lines{"accept: */*", "x-forwarded-for: 192.0.2.7", "x-forwarded-proto: http"}));
}

TEST(RewriteRequest, AppendsToExistingXForwardedForFromTrustedProxy) {
  RequestHead request = make_request();
  request.headers = {{"x-forwarded-for", "203.0.113.1"}, {"accept", "*/*"}};
  rewrite_request_for_upstream(request, make_api(), kTrusted);
  EXPECT_EQ(lines(request.headers), (Lines{"x-forwarded-for: 203.0.113.1, 192.0.2.7",
                                           "accept: */*", "x-forwarded-proto: http"}));
}

TEST(RewriteRequest, AppendsToLastXForwardedForLineFromTrustedProxy) {
  RequestHead request = make_request();
  request.headers = {{"x-forwarded-for", "203.0.113.1"}, {"x-forwarded-for", "198.51.100.2"}};
  rewrite_request_for_upstream(request, make_api(), kTrusted);
  EXPECT_EQ(lines(request.headers),
            (Lines{"x-forwarded-for: 203.0.113.1", "x-forwarded-for: 198.51.100.2, 192.0.2.7",
                   "x-forwarded-proto: http"}));
}

TEST(RewriteRequest, FillsEmptyXForwardedForFromTrustedProxy) {
  RequestHead request = make_request();
  request.headers = {{"x-forwarded-for", ""}};
  rewrite_request_for_upstream(request, make_api(), kTrusted);
  EXPECT_EQ(lines(request.headers),
            (Lines{"x-forwarded-for: 192.0.2.7", "x-forwarded-proto: http"}));
}

TEST(RewriteRequest, KeepsExistingXForwardedProtoFromTrustedProxy) {
  RequestHead request = make_request();
  request.headers = {{"x-forwarded-proto", "https"}};
  rewrite_request_for_upstream(request, make_api(), kTrusted);
  EXPECT_EQ(lines(request.headers),
            (Lines{"x-forwarded-proto: https", "x-forwarded-for: 192.0.2.7"}));
}

TEST(RewriteRequest, ReplacesForwardingHeadersFromUntrustedClient) {
  RequestHead request = make_request();
  request.headers = {{"x-forwarded-for", "203.0.113.1"},
                     {"accept", "*/*"},
                     {"x-forwarded-proto", "https"},
                     {"x-forwarded-for", "198.51.100.2"},
                     {"x-forwarded-proto", "http"},
                     {"x_forwarded_for", "198.51.100.3"},
                     {"x-forwarded_proto", "https"}};
  rewrite_request_for_upstream(request, make_api(), kContext);
  EXPECT_EQ(lines(request.headers),
            (Lines{"accept: */*", "x-forwarded-for: 192.0.2.7", "x-forwarded-proto: http"}));

  // Over TLS the scheme is https whatever the client claims.
  request = make_request();
  request.headers = {{"x-forwarded-proto", "http"}};
  rewrite_request_for_upstream(request, make_api(), ForwardContext{"2001:db8::1", "https"});
  EXPECT_EQ(lines(request.headers),
            (Lines{"x-forwarded-for: 2001:db8::1", "x-forwarded-proto: https"}));
}

TEST(RewriteRequest, UntrustedClientWithoutAddressStillLosesItsForwardingHeaders) {
  RequestHead request = make_request();
  request.headers = {{"x-forwarded-for", "203.0.113.1"}, {"x-forwarded-proto", "https"}};
  rewrite_request_for_upstream(request, make_api(), ForwardContext{});
  EXPECT_EQ(lines(request.headers), (Lines{}));
}

TEST(RewriteRequest, ConnectionCannotStripTheAddedForwardingHeaders) {
  RequestHead request = make_request();
  request.headers = {{"connection", "x-forwarded-for, x-forwarded-proto"},
                     {"x-forwarded-for", "203.0.113.1"},
                     {"x-forwarded-proto", "https"}};
  rewrite_request_for_upstream(request, make_api(), kContext);
  // The client's own values go (they were hop-by-hop); the gateway's are still added.
  EXPECT_EQ(lines(request.headers),
            (Lines{"x-forwarded-for: 192.0.2.7", "x-forwarded-proto: http"}));
}

TEST(RewriteRequest, UsesTargetAuthorityByDefault) {
  RequestHead request = make_request();
  rewrite_request_for_upstream(request, make_api(), kContext);
  EXPECT_EQ(request.authority, "10.0.0.5:8081");
}

TEST(RewriteRequest, PreserveHostHeaderKeepsClientAuthority) {
  ApiConfig api = make_api();
  api.preserve_host_header = true;
  RequestHead request = make_request();
  rewrite_request_for_upstream(request, api, kContext);
  EXPECT_EQ(request.authority, "gateway.example.com");

  // An HTTP/1.0 request without Host still gets one upstream.
  request = make_request();
  request.authority.clear();
  rewrite_request_for_upstream(request, api, kContext);
  EXPECT_EQ(request.authority, "10.0.0.5:8081");
}

TEST(RewriteRequest, RewritesPathWithStripAndBasePath) {
  ApiConfig api = make_api();
  api.strip_listen_path = true;
  api.target.base_path = "/v2";
  RequestHead request = make_request();
  rewrite_request_for_upstream(request, api, kContext);
  EXPECT_EQ(request.path, "/v2/42?expand=1");
}

TEST(RewriteRequest, KeepsTeTrailersForH2cTargetOnly) {
  RequestHead request = make_request();
  request.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
  rewrite_request_for_upstream(request, make_api(UpstreamProtocol::Http2), kContext);
  EXPECT_EQ(lines(request.headers),
            (Lines{"content-type: application/grpc", "te: trailers", "x-forwarded-for: 192.0.2.7",
                   "x-forwarded-proto: http"}));

  request = make_request();
  request.headers = {{"content-type", "application/grpc"}, {"te", "trailers"}};
  rewrite_request_for_upstream(request, make_api(UpstreamProtocol::Http1), kContext);
  EXPECT_EQ(lines(request.headers),
            (Lines{"content-type: application/grpc", "x-forwarded-for: 192.0.2.7",
                   "x-forwarded-proto: http"}));
}

TEST(RewriteRequest, SkipsForwardingHeadersWithoutClientInfo) {
  RequestHead request = make_request();
  request.headers = {{"accept", "*/*"}};
  rewrite_request_for_upstream(request, make_api(), ForwardContext{});
  EXPECT_EQ(lines(request.headers), (Lines{"accept: */*"}));
}

TEST(RewriteResponse, RemovesHopByHopHeaders) {
  ResponseHead response;
  response.status = 200;
  response.headers = {{"content-type", "text/plain"}, {"connection", "keep-alive, x-internal"},
                      {"keep-alive", "timeout=5"},    {"transfer-encoding", "chunked"},
                      {"x-internal", "1"},            {"te", "trailers"},
                      {"content-length", "5"}};
  rewrite_response_for_downstream(response);
  EXPECT_EQ(lines(response.headers), (Lines{"content-type: text/plain", "content-length: 5"}));
}

TEST(RewriteRequest, ClientCertificateHeadersAreStrippedAndSetOnlyWhenVerified) {
  ApiConfig api = make_api();
  RequestHead spoofed = make_request();
  spoofed.headers.push_back({"x-client-cert-sha256", "00ff"});
  spoofed.headers.push_back({"accept", "*/*"});
  spoofed.headers.push_back({"x-client-cert-subject", "CN=admin"});

  // Cleartext connection: the spoofed values vanish and nothing replaces them.
  RequestHead plain = make_request();
  plain.headers = spoofed.headers;
  rewrite_request_for_upstream(plain, api, kContext);
  EXPECT_EQ(find_header(plain.headers, "x-client-cert-sha256"), nullptr);
  EXPECT_EQ(find_header(plain.headers, "x-client-cert-subject"), nullptr);
  EXPECT_NE(find_header(plain.headers, "accept"), nullptr);

  // An unverified certificate is not an identity either.
  ClientCert untrusted;
  untrusted.state = ClientCertState::kUnverified;
  untrusted.sha256 = std::string(64, 'c');
  untrusted.subject = "CN=mallory";
  RequestHead unverified = make_request();
  unverified.headers = spoofed.headers;
  rewrite_request_for_upstream(unverified, api, ForwardContext{"192.0.2.7", "https", &untrusted});
  EXPECT_EQ(find_header(unverified.headers, "x-client-cert-sha256"), nullptr);
  EXPECT_EQ(find_header(unverified.headers, "x-client-cert-subject"), nullptr);

  // A verified one: exactly one of each, with the connection's values.
  ClientCert verified;
  verified.state = ClientCertState::kVerified;
  verified.sha256 = std::string(64, 'd');
  verified.subject = "CN=client,O=Example";
  RequestHead ok = make_request();
  ok.headers = spoofed.headers;
  rewrite_request_for_upstream(ok, api, ForwardContext{"192.0.2.7", "https", &verified});
  EXPECT_EQ(lines(ok.headers), (Lines{"accept: */*",
                                      "x-client-cert-sha256: " + std::string(64, 'd'),
                                      "x-client-cert-subject: CN=client,O=Example",
                                      "x-forwarded-for: 192.0.2.7", "x-forwarded-proto: https"}));
}

TEST(RewriteRequest, IdentityHeadersWithUnderscoresAreStrippedToo) {
  EXPECT_TRUE(is_client_identity_header("x-client-cert-sha256"));
  EXPECT_TRUE(is_client_identity_header("x_client_cert_sha256"));
  EXPECT_TRUE(is_client_identity_header("x-client_cert-subject"));
  EXPECT_FALSE(is_client_identity_header("x-client-cert-sha2566"));
  EXPECT_FALSE(is_client_identity_header("x-client-cert"));
  HeaderList trailers;
  trailers.push_back({"grpc-status", "0"});
  trailers.push_back({"x_client_cert_subject", "CN=admin"});
  EXPECT_TRUE(strip_client_identity_headers(trailers));
  EXPECT_EQ(lines(trailers), (Lines{"grpc-status: 0"}));
  EXPECT_FALSE(strip_client_identity_headers(trailers));
}

}  // namespace
}  // namespace ringway
