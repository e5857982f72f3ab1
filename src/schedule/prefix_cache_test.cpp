#include "schedule/prefix_cache.h"

#include <gtest/gtest.h>

namespace troika::schedule {
namespace {

TEST(PrefixCache, FindsLongestPrefixWithinCap) {
  PrefixCache c;
  EXPECT_TRUE(c.insert(1, {1, 2, 3}).empty());
  EXPECT_TRUE(c.insert(2, {1, 2, 9, 9, 9}).empty());
  std::vector<engine::Token> q = {1, 2, 9, 9, 9, 7};
  auto m = c.lookup(q, 100);
  EXPECT_EQ(m.seq, 2);
  EXPECT_EQ(m.length, 5);
  m = c.lookup(q, 4);
  EXPECT_EQ(m.length, 4);
  m = c.lookup(std::vector<engine::Token>{5, 5}, 100);
  EXPECT_EQ(m.seq, -1);
  EXPECT_EQ(m.length, 0);
  EXPECT_EQ(c.cells(), 8);
}

TEST(PrefixCache, InsertReplacesShorterAndSkipsCovered) {
  PrefixCache c;
  c.insert(1, {1, 2});
  auto freed = c.insert(2, {1, 2, 3, 4});
  EXPECT_EQ(freed, std::vector<int32_t>{1});
  EXPECT_EQ(c.size(), 1u);
  freed = c.insert(3, {1, 2, 3});  // already covered by entry 2
  EXPECT_EQ(freed, std::vector<int32_t>{3});
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.cells(), 4);
}

TEST(PrefixCache, EvictsLeastRecentlyUsed) {
  PrefixCache c;
  c.insert(1, {1});
  c.insert(2, {2});
  c.insert(3, {3});
  c.lookup(std::vector<engine::Token>{1, 0}, 10);  // touch 1
  EXPECT_EQ(c.evict_lru(), 2);
  EXPECT_EQ(c.evict_lru(), 3);
  EXPECT_EQ(c.evict_lru(), 1);
  EXPECT_EQ(c.evict_lru(), -1);
  EXPECT_EQ(c.cells(), 0);
}

}  // namespace
}  // namespace troika::schedule
