#include "http/message.h"

#include <gtest/gtest.h>

namespace ringway {
namespace {

TEST(HttpMessage, FindsHeaderByLowerCaseName) {
  HeaderList headers = {{"accept", "*/*"}, {"x-id", "1"}, {"x-id", "2"}};
  const Header* found = find_header(headers, "x-id");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->value, "1");  // the first one
  EXPECT_EQ(find_header(headers, "x-missing"), nullptr);
}

TEST(HttpMessage, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("content-type", "content-typ"));
  EXPECT_FALSE(iequals("a", "b"));
}

TEST(HttpMessage, RecognisesGrpcContentTypes) {
  EXPECT_TRUE(is_grpc_content_type("application/grpc"));
  EXPECT_TRUE(is_grpc_content_type("application/grpc+proto"));
  EXPECT_TRUE(is_grpc_content_type("Application/GRPC; charset=utf-8"));
  EXPECT_FALSE(is_grpc_content_type("application/json"));
  EXPECT_FALSE(is_grpc_content_type("application/grp"));
  EXPECT_FALSE(is_grpc_content_type(""));
}

}  // namespace
}  // namespace ringway
