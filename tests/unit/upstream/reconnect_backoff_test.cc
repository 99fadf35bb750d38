#include "upstream/reconnect_backoff.h"

#include <gtest/gtest.h>

namespace ringway {
namespace {

TEST(ReconnectBackoff, AllowsConnectingUntilAFailure) {
  ReconnectBackoff b(100, 5000);
  EXPECT_TRUE(b.may_connect(0));
  EXPECT_TRUE(b.may_connect(123456));
}

TEST(ReconnectBackoff, DoublesPerConsecutiveFailureUpToTheMax) {
  ReconnectBackoff b(100, 1000);
  b.on_failure(1000);
  EXPECT_FALSE(b.may_connect(1099));
  EXPECT_TRUE(b.may_connect(1100));
  b.on_failure(2000);  // second failure: 200 ms
  EXPECT_FALSE(b.may_connect(2199));
  EXPECT_TRUE(b.may_connect(2200));
  b.on_failure(3000);  // 400
  b.on_failure(4000);  // 800
  b.on_failure(5000);  // 1600 -> capped at 1000
  EXPECT_FALSE(b.may_connect(5999));
  EXPECT_TRUE(b.may_connect(6000));
  for (int i = 0; i < 100; ++i) b.on_failure(10000);  // no overflow after many
  EXPECT_TRUE(b.may_connect(11000));
}

TEST(ReconnectBackoff, SuccessResets) {
  ReconnectBackoff b(100, 5000);
  b.on_failure(0);
  b.on_failure(100);
  b.on_success();
  EXPECT_EQ(b.failures(), 0u);
  EXPECT_TRUE(b.may_connect(101));
  b.on_failure(1000);
  EXPECT_TRUE(b.may_connect(1100));  // back to the base delay
}

TEST(ReconnectBackoff, ZeroBaseDisablesIt) {
  ReconnectBackoff b(0, 5000);
  b.on_failure(0);
  EXPECT_TRUE(b.may_connect(0));
}

}  // namespace
}  // namespace ringway
