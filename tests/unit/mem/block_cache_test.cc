#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mem/slice.h"

namespace ringway {
namespace {

constexpr uint64_t kBlock = 16384;  // a default-size block with its header

// Each test runs on a thread of its own: the cache is per thread.
template <class Body>
void on_fresh_thread(Body body) {
  std::thread t(body);
  t.join();
}

std::vector<HeapBlock*> take(int n) {
  std::vector<HeapBlock*> blocks;
  for (int i = 0; i < n; ++i) blocks.push_back(heap_block_new(100));
  return blocks;
}

void give_back(std::vector<HeapBlock*>& blocks) {
  for (HeapBlock* b : blocks) heap_block_unref(b);
  blocks.clear();
}

TEST(BlockCache, KeepsFreedBlocksUpToItsLimit) {
  on_fresh_thread([] {
    set_thread_block_cache_limit(4 * kBlock);
    EXPECT_EQ(thread_block_cache_bytes(), 0u);
    auto blocks = take(6);
    give_back(blocks);
    EXPECT_EQ(thread_block_cache_bytes(), 4 * kBlock);  // the other two went to free()
    // Reuse comes from the cache first.
    blocks = take(3);
    EXPECT_EQ(thread_block_cache_bytes(), 1 * kBlock);
    give_back(blocks);
    EXPECT_EQ(thread_block_cache_bytes(), 4 * kBlock);
  });
}

TEST(BlockCache, LoweringTheLimitFreesTheExcessAndZeroDisablesIt) {
  on_fresh_thread([] {
    set_thread_block_cache_limit(8 * kBlock);
    auto blocks = take(8);
    give_back(blocks);
    EXPECT_EQ(thread_block_cache_bytes(), 8 * kBlock);
    set_thread_block_cache_limit(2 * kBlock + 100);  // whole blocks only
    EXPECT_EQ(thread_block_cache_bytes(), 2 * kBlock);
    set_thread_block_cache_limit(0);
    EXPECT_EQ(thread_block_cache_bytes(), 0u);
    blocks = take(3);
    give_back(blocks);
    EXPECT_EQ(thread_block_cache_bytes(), 0u);
  });
}

TEST(BlockCache, LargerBlocksAreNeverCached) {
  on_fresh_thread([] {
    set_thread_block_cache_limit(4 * kBlock);
    HeapBlock* big = heap_block_new(64 * 1024);
    EXPECT_GE(big->capacity, 64u * 1024);
    heap_block_unref(big);
    EXPECT_EQ(thread_block_cache_bytes(), 0u);
  });
}

}  // namespace
}  // namespace ringway
