#include "http1/h1_header_collector.h"

#include <gtest/gtest.h>

namespace ringway {
namespace {

TEST(H1HeaderCollector, JoinsPiecesAndLowerCasesNames) {
  H1HeaderCollector c;
  c.reset(1000);
  HeaderList out;
  ASSERT_TRUE(c.on_field("Conte", 5));
  ASSERT_TRUE(c.on_field("nt-Type", 7));
  ASSERT_TRUE(c.on_value("text/", 5));
  ASSERT_TRUE(c.on_value("plain", 5));
  ASSERT_TRUE(c.on_value_complete(out));
  ASSERT_TRUE(c.on_field("X-A", 3));
  ASSERT_TRUE(c.on_value("", 0));
  ASSERT_TRUE(c.on_value_complete(out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "content-type");
  EXPECT_EQ(out[0].value, "text/plain");
  EXPECT_EQ(out[1].name, "x-a");
  EXPECT_EQ(out[1].value, "");
}

TEST(H1HeaderCollector, FailsOnceTheLimitIsPassed) {
  H1HeaderCollector c;
  c.reset(10 + H1HeaderCollector::kFieldOverheadBytes);
  HeaderList out;
  EXPECT_TRUE(c.on_field("abcde", 5));
  EXPECT_TRUE(c.on_value("12345", 5));  // exactly at the limit after the overhead
  EXPECT_TRUE(c.on_value_complete(out));
  EXPECT_FALSE(c.on_field("x", 1));
}

TEST(H1HeaderCollector, EachFieldCostsItsOverhead) {
  // Many empty fields are bounded too: 32 bytes each.
  H1HeaderCollector c;
  c.reset(32 * 3);
  HeaderList out;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.on_field("", 0));
    ASSERT_TRUE(c.on_value_complete(out));
  }
  EXPECT_TRUE(c.on_field("", 0));
  EXPECT_FALSE(c.on_value_complete(out));
}

TEST(H1HeaderCollector, ResetStartsANewHead) {
  H1HeaderCollector c;
  c.reset(40);
  HeaderList out;
  ASSERT_TRUE(c.add_bytes(40));
  EXPECT_FALSE(c.add_bytes(1));
  c.reset(40);
  EXPECT_TRUE(c.add_bytes(40));
}

}  // namespace
}  // namespace ringway
