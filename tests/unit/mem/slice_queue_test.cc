#include "mem/slice_queue.h"

#include <string>

#include <gtest/gtest.h>

namespace ringway {
namespace {

Slice text(const std::string& s) { return Slice::copy_of(s.data(), static_cast<uint32_t>(s.size())); }
std::string str(const Slice& s) { return std::string(s.data(), s.size()); }

TEST(SliceQueue, IsAFifoWithPushFront) {
  SliceQueue q;
  EXPECT_TRUE(q.empty());
  q.push_back(text("b"));
  q.push_back(text("c"));
  q.push_front(text("a"));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(str(q.front()), "a");
  EXPECT_EQ(str(q.back()), "c");
  EXPECT_EQ(str(q.pop_front()), "a");
  q.push_front(text("a2"));  // into the slot the pop freed
  std::string all;
  q.for_each([&](const Slice& s) { all += str(s); });
  EXPECT_EQ(all, "a2bc");
  EXPECT_EQ(str(q.pop_front()), "a2");
  EXPECT_EQ(str(q.pop_front()), "b");
  EXPECT_EQ(str(q.pop_front()), "c");
  EXPECT_TRUE(q.empty());
}

TEST(SliceQueue, AQueueThatNeverEmptiesStaysBounded) {
  // A long stream whose reader is the bottleneck: always a few slices queued.
  SliceQueue q;
  for (int i = 0; i < 4; ++i) q.push_back(text(std::to_string(i)));
  for (int i = 4; i < 100000; ++i) {
    EXPECT_EQ(str(q.pop_front()), std::to_string(i - 4));
    q.push_back(text(std::to_string(i)));
    ASSERT_EQ(q.size(), 4u);
    ASSERT_LE(q.capacity_for_test(), 128u) << "after " << i << " slices";
  }
}

}  // namespace
}  // namespace ringway
