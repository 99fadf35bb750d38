#include "http/local_reply.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ringway {
namespace {

std::vector<std::string> lines(const HeaderList& headers) {
  std::vector<std::string> out;
  for (const Header& header : headers) out.push_back(header.name.str() + ": " + header.value.str());
  return out;
}

using Lines = std::vector<std::string>;

struct CauseCase {
  LocalReplyCause cause;
  int http_status;
  int grpc_status;
  const char* flag;
  const char* label;
};

// DESIGN.md §5; flags after Envoy's response flags.
constexpr CauseCase kCauses[] = {
    {LocalReplyCause::NoRoute, 404, 12, "NR", "no_route"},
    {LocalReplyCause::Unauthenticated, 401, 16, "UA", "unauthenticated"},
    {LocalReplyCause::Forbidden, 403, 7, "PD", "forbidden"},
    {LocalReplyCause::PluginFailed, 500, 13, "PF", "plugin_failed"},
    {LocalReplyCause::UpstreamConnectFailure, 502, 14, "UF", "upstream_connect_failure"},
    {LocalReplyCause::UpstreamReset, 502, 14, "UR", "upstream_reset"},
    {LocalReplyCause::UpstreamProtocolError, 502, 14, "UPE", "upstream_protocol_error"},
    {LocalReplyCause::UpstreamOverloaded, 503, 14, "UO", "upstream_overloaded"},
    {LocalReplyCause::UpstreamTimeout, 504, 4, "UT", "upstream_timeout"},
    {LocalReplyCause::DeadlineExceeded, 504, 4, "DE", "deadline_exceeded"},
    {LocalReplyCause::BadRequest, 400, 13, "DPE", "bad_request"},
    {LocalReplyCause::PayloadTooLarge, 413, 13, "TL", "payload_too_large"},
    {LocalReplyCause::HeadersTooLarge, 431, 13, "TL", "headers_too_large"},
    {LocalReplyCause::RequestTimeout, 408, 4, "RT", "request_timeout"},
    {LocalReplyCause::ServiceUnavailable, 503, 14, "SD", "service_unavailable"},
    // Authentication: Tyk's HTTP codes; gRPC by meaning (an unknown key is
    // UNAUTHENTICATED although Tyk answers 403).
    {LocalReplyCause::KeyRejected, 403, 16, "UA", "key_rejected"},
    {LocalReplyCause::MalformedCredentials, 400, 16, "UA", "malformed_credentials"},
    {LocalReplyCause::RateLimited, 429, 8, "RL", "rate_limited"},
    {LocalReplyCause::QuotaExceeded, 403, 8, "QE", "quota_exceeded"},
    {LocalReplyCause::AuthUnavailable, 503, 14, "AU", "auth_unavailable"},
    {LocalReplyCause::RequestBodyTooLarge, 413, 8, "TL", "request_body_too_large"},
    {LocalReplyCause::UriTooLong, 414, 13, "TL", "uri_too_long"},
};
static_assert(sizeof(kCauses) / sizeof(kCauses[0]) == kLocalReplyCauseCount,
              "every cause is listed");

TEST(LocalReply, MapsEveryCauseToHttpAndGrpcStatus) {
  for (const CauseCase& c : kCauses) {
    SCOPED_TRACE(c.label);
    EXPECT_EQ(local_reply_http_status(c.cause), c.http_status);
    EXPECT_EQ(local_reply_grpc_status(c.cause), c.grpc_status);
  }
}

TEST(LocalReply, EveryCauseHasAnAccessLogFlagAndAMetricLabel) {
  for (const CauseCase& c : kCauses) {
    SCOPED_TRACE(c.label);
    EXPECT_STREQ(local_reply_flag(c.cause), c.flag);
    EXPECT_STREQ(local_reply_label(c.cause), c.label);
  }
}

TEST(LocalReply, BuildsJsonReplyForEveryCause) {
  for (const CauseCase& c : kCauses) {
    SCOPED_TRACE(c.http_status);
    LocalReply reply = make_local_reply(c.cause, "nope", false);
    EXPECT_EQ(reply.head.status, c.http_status);
    EXPECT_EQ(reply.body, "{\"error\": \"nope\"}");
    EXPECT_EQ(reply.head.content_length, 17);
    EXPECT_EQ(lines(reply.head.headers),
              (Lines{"content-type: application/json", "content-length: 17"}));
  }
}

TEST(LocalReply, BuildsTrailersOnlyGrpcReplyForEveryCause) {
  for (const CauseCase& c : kCauses) {
    SCOPED_TRACE(c.http_status);
    LocalReply reply = make_local_reply(c.cause, "nope", true);
    EXPECT_EQ(reply.head.status, 200);
    EXPECT_EQ(reply.body, "");
    EXPECT_EQ(reply.head.content_length, -1);  // no content-length header
    EXPECT_EQ(lines(reply.head.headers),
              (Lines{"content-type: application/grpc",
                     "grpc-status: " + std::to_string(c.grpc_status), "grpc-message: nope"}));
  }
}

TEST(LocalReply, NoRouteJsonExactBytes) {
  LocalReply reply = make_local_reply(LocalReplyCause::NoRoute, "no API matches /x", false);
  EXPECT_EQ(reply.head.status, 404);
  EXPECT_EQ(reply.body, R"({"error": "no API matches /x"})");
  EXPECT_EQ(lines(reply.head.headers),
            (Lines{"content-type: application/json", "content-length: 30"}));
}

TEST(LocalReply, UpstreamTimeoutGrpcExactBytes) {
  LocalReply reply = make_local_reply(LocalReplyCause::UpstreamTimeout, "upstream timed out", true);
  EXPECT_EQ(reply.head.status, 200);
  EXPECT_EQ(lines(reply.head.headers),
            (Lines{"content-type: application/grpc", "grpc-status: 4",
                   "grpc-message: upstream timed out"}));
}

TEST(LocalReply, OmitsEmptyGrpcMessage) {
  LocalReply reply = make_local_reply(LocalReplyCause::Forbidden, "", true);
  EXPECT_EQ(lines(reply.head.headers),
            (Lines{"content-type: application/grpc", "grpc-status: 7"}));
}

TEST(LocalReply, EscapesJsonMessage) {
  LocalReply reply = make_local_reply(LocalReplyCause::BadRequest,
                                      "bad \"path\" \\x\n\t\x01\x7f", false);
  EXPECT_EQ(reply.body, R"({"error": "bad \"path\" \\x\n\t\u0001\u007F"})");
  EXPECT_EQ(reply.head.content_length, static_cast<int64_t>(reply.body.size()));
}

TEST(LocalReply, KeepsValidUtf8AndReplacesInvalidBytesInJson) {
  LocalReply reply = make_local_reply(LocalReplyCause::NoRoute,
                                      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xFF \xC3 "
                                      "\xC0\xAF \xED\xA0\x80",
                                      false);
  EXPECT_EQ(reply.body,
            "{\"error\": \"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \\ufffd \\ufffd "
            "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"}");
}

TEST(LocalReply, PercentEncodesGrpcMessage) {
  EXPECT_EQ(grpc_percent_encode("plain text: ok!"), "plain text: ok!");
  EXPECT_EQ(grpc_percent_encode("100% done"), "100%25 done");
  EXPECT_EQ(grpc_percent_encode("a\nb\tc"), "a%0Ab%09c");
  EXPECT_EQ(grpc_percent_encode("caf\xC3\xA9"), "caf%C3%A9");
  EXPECT_EQ(grpc_percent_encode(std::string_view("\x00\x7f~", 3)), "%00%7F~");
  LocalReply reply = make_local_reply(LocalReplyCause::NoRoute, "no API matches /\xC3\xA9%", true);
  EXPECT_EQ(lines(reply.head.headers),
            (Lines{"content-type: application/grpc", "grpc-status: 12",
                   "grpc-message: no API matches /%C3%A9%25"}));
}

TEST(LocalReply, ExtraHeadersGoIntoTheHead) {
  HeaderList extra{{"www-authenticate", "Basic realm=\"api\""}};
  LocalReply json = make_local_reply(LocalReplyCause::Unauthenticated, "no", false, &extra);
  EXPECT_EQ(lines(json.head.headers),
            (Lines{"www-authenticate: Basic realm=\"api\"", "content-type: application/json",
                   "content-length: 15"}));
  HeaderList rate{{"x-ratelimit-limit", "4"}};
  LocalReply grpc = make_local_reply(LocalReplyCause::RateLimited, "slow", true, &rate);
  EXPECT_EQ(lines(grpc.head.headers),
            (Lines{"x-ratelimit-limit: 4", "content-type: application/grpc", "grpc-status: 8",
                   "grpc-message: slow"}));
}

}  // namespace
}  // namespace ringway
