#include "grpc/grpc_timeout.h"

#include <gtest/gtest.h>

namespace ringway {
namespace {

TEST(GrpcTimeout, ParsesEveryUnit) {
  EXPECT_EQ(parse_grpc_timeout_ms("2H"), 7200000u);
  EXPECT_EQ(parse_grpc_timeout_ms("3M"), 180000u);
  EXPECT_EQ(parse_grpc_timeout_ms("10S"), 10000u);
  EXPECT_EQ(parse_grpc_timeout_ms("250m"), 250u);
  EXPECT_EQ(parse_grpc_timeout_ms("1500u"), 2u);     // rounded up
  EXPECT_EQ(parse_grpc_timeout_ms("1n"), 1u);        // never rounds to "no time"
  EXPECT_EQ(parse_grpc_timeout_ms("0m"), 0u);
  EXPECT_EQ(parse_grpc_timeout_ms("99999999S"), 99999999000u);
}

TEST(GrpcTimeout, RejectsMalformedValues) {
  EXPECT_FALSE(parse_grpc_timeout_ms(""));
  EXPECT_FALSE(parse_grpc_timeout_ms("m"));
  EXPECT_FALSE(parse_grpc_timeout_ms("10"));
  EXPECT_FALSE(parse_grpc_timeout_ms("10x"));
  EXPECT_FALSE(parse_grpc_timeout_ms("-1S"));
  EXPECT_FALSE(parse_grpc_timeout_ms("1 S"));
  EXPECT_FALSE(parse_grpc_timeout_ms("123456789S"));  // more than 8 digits
}

TEST(GrpcTimeout, FormatsExactlyWhenItFits) {
  EXPECT_EQ(format_grpc_timeout(0), "0m");
  EXPECT_EQ(format_grpc_timeout(250), "250m");
  EXPECT_EQ(format_grpc_timeout(99999999), "99999999m");
  EXPECT_EQ(format_grpc_timeout(100000000), "100000S");
  EXPECT_EQ(format_grpc_timeout(100000001), "100001S");  // rounded up, never shorter
}

TEST(GrpcTimeout, RoundTripsThroughTheParser) {
  for (uint64_t ms : {1ull, 999ull, 60000ull, 123456789ull, 7200000000ull}) {
    auto back = parse_grpc_timeout_ms(format_grpc_timeout(ms));
    ASSERT_TRUE(back.has_value());
    EXPECT_GE(*back, ms);
  }
}

}  // namespace
}  // namespace ringway
