#include "http1/h1_request_checks.h"

#include <string>

#include <gtest/gtest.h>

namespace ringway {
namespace {

using Result = H1HeadScanner::Result;

// Scans |head| from its request line in one piece; the error text or "" / "more".
std::string scan_head(std::string_view head) {
  H1HeadScanner scanner;
  scanner.start_request_line();
  switch (scanner.scan(head.data(), head.size())) {
    case Result::kDone:
      return "";
    case Result::kMore:
      return "more";
    case Result::kBad:
      return scanner.error();
  }
  return "?";
}

// The same head split at every position: the verdict must not depend on the split.
void expect_same_when_split(std::string_view head) {
  std::string whole = scan_head(head);
  for (size_t cut = 1; cut < head.size(); ++cut) {
    H1HeadScanner scanner;
    scanner.start_request_line();
    Result r = scanner.scan(head.data(), cut);
    if (r == Result::kMore) r = scanner.scan(head.data() + cut, head.size() - cut);
    std::string got = r == Result::kDone ? "" : r == Result::kMore ? "more" : scanner.error();
    EXPECT_EQ(got, whole) << "split at " << cut << " of " << testing::PrintToString(head);
  }
}

TEST(H1HeadScanner, AcceptsOrdinaryHeads) {
  for (std::string_view head : {
           std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string_view("POST /a?b=c HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"),
           std::string_view("GET / HTTP/1.0\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nTransfer-Encoding:chunked\r\nX-Sp:   a\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nX-Empty:\r\ntransfer-encodinG: chunked\r\n\r\n"),
       }) {
    EXPECT_EQ(scan_head(head), "") << head;
    expect_same_when_split(head);
  }
}

TEST(H1HeadScanner, StopsAtTheEndOfTheHead) {
  // Body bytes (and a bare LF in them) are not looked at.
  std::string_view data = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na\nb";
  H1HeadScanner scanner;
  scanner.start_request_line();
  EXPECT_EQ(scanner.scan(data.data(), data.size()), Result::kDone);
  EXPECT_FALSE(scanner.active());
  // An unfinished head asks for more.
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: x\r\n"), "more");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: x\r\n\r"), "more");
}

TEST(H1HeadScanner, RejectsObsFold) {
  for (std::string_view head : {
           std::string_view("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nX-A:\r\n b\r\n\r\n"),
           std::string_view("GET / HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n"),
       }) {
    EXPECT_EQ(scan_head(head), "obs-fold (a header line starting with whitespace)") << head;
    expect_same_when_split(head);
  }
}

TEST(H1HeadScanner, RejectsBareCrAndBareLf) {
  EXPECT_EQ(scan_head("GET / HTTP/1.1\nHost: x\r\n\r\n"), "LF without CR in the request head");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: x\n\r\n"), "LF without CR in the request head");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: x\r\n\n"), "LF without CR in the request head");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), "CR without LF in the request head");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost: x\r\n\rX"), "CR without LF in the request head");
  EXPECT_EQ(scan_head("GET /\r HTTP/1.1\r\n\r\n"), "CR without LF in the request head");
  expect_same_when_split("GET / HTTP/1.1\r\nHost: x\r\n\n");
  expect_same_when_split("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n");
}

TEST(H1HeadScanner, RejectsNulAndWhitespaceBeforeColon) {
  EXPECT_EQ(scan_head(std::string_view("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 30)),
            "NUL in the request head");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
            "whitespace in a header name or before its colon");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n"),
            "whitespace in a header name or before its colon");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            "whitespace in a header name or before its colon");
  EXPECT_EQ(scan_head("GET / HTTP/1.1\r\n: x\r\n\r\n"), "empty header name");
}

TEST(H1HeadScanner, RejectsUnusualWhitespaceBeforeTransferEncoding) {
  const char* kWhy = "Transfer-Encoding with whitespace other than one SP before its value";
  EXPECT_EQ(scan_head("POST / HTTP/1.1\r\nTransfer-Encoding:\tchunked\r\n\r\n"), kWhy);
  EXPECT_EQ(scan_head("POST / HTTP/1.1\r\nTransfer-Encoding: \tchunked\r\n\r\n"), kWhy);
  EXPECT_EQ(scan_head("POST / HTTP/1.1\r\nTRANSFER-ENCODING:  chunked\r\n\r\n"), kWhy);
  expect_same_when_split("POST / HTTP/1.1\r\nTransfer-Encoding:  chunked\r\n\r\n");
  // Other headers may use any OWS; a longer or shorter name is another header.
  EXPECT_EQ(scan_head("POST / HTTP/1.1\r\nX-Transfer-Encoding:\tchunked\r\n\r\n"), "");
  EXPECT_EQ(scan_head("POST / HTTP/1.1\r\nTransfer-Encodings:\tchunked\r\n\r\n"), "");
  EXPECT_EQ(scan_head("POST / HTTP/1.1\r\nTransfer-Encodin:\tchunked\r\n\r\n"), "");
}

TEST(H1HeadScanner, ScansTrailerSections) {
  H1HeadScanner scanner;
  std::string_view ok = "X-T: v\r\n\r\n0\n";
  scanner.start_field_lines();
  EXPECT_EQ(scanner.scan(ok.data(), ok.size()), Result::kDone);
  std::string_view fold = "X-T: v\r\n w\r\n\r\n";
  scanner.start_field_lines();
  EXPECT_EQ(scanner.scan(fold.data(), fold.size()), Result::kBad);
}

TEST(IsValidHost, AcceptsRfc3986Hosts) {
  for (std::string_view host : {"example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:1",
                                "[::1]", "[::1]:443", "[2001:db8::7]:65535", "a-b_c~d.e",
                                "x%41y", "EXAMPLE.COM", "localhost:0"}) {
    EXPECT_TRUE(is_valid_host(host)) << host;
  }
}

TEST(IsValidHost, RejectsEverythingElse) {
  for (std::string_view host :
       {"", ":80", "exa mple.com", "user@example.com", "example.com/x", "example.com:",
        "example.com:65536", "example.com:8o", "example.com:123456", "example.com:80:80",
        "[::1", "[::1]x", "[::1]:", "[]", "[fe80::1%25eth0]", "[example.com]",
        "example.com\t", "x%4", "x%zz", "a\"b", "a<b", "a\\b", "a\x01" "b"}) {
    EXPECT_FALSE(is_valid_host(host)) << testing::PrintToString(host);
  }
  EXPECT_FALSE(is_valid_host(std::string_view("a\0b", 3)));
}

TEST(SameAuthority, IgnoresCaseAndTheSchemesDefaultPort) {
  EXPECT_TRUE(same_authority("api.example.com", "API.example.com", "http"));
  EXPECT_TRUE(same_authority("api.example.com:80", "api.example.com", "http"));
  EXPECT_TRUE(same_authority("api.example.com", "api.example.com:443", "https"));
  EXPECT_TRUE(same_authority("[::1]:80", "[::1]", "http"));
  EXPECT_FALSE(same_authority("api.example.com:443", "api.example.com", "http"));
  EXPECT_FALSE(same_authority("api.example.com", "other.example", "http"));
  EXPECT_FALSE(same_authority("api.example.com:8080", "api.example.com", "http"));
}

}  // namespace
}  // namespace ringway
