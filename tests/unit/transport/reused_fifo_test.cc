#include "transport/reused_fifo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <random>
#include <vector>

namespace flexins::transport {
namespace {

TEST(ReusedFifo, IsFirstInFirstOut) {
  ReusedFifo<int> q;
  EXPECT_TRUE(q.empty());
  for (int i = 0; i < 5; ++i) q.push_back(i);
  EXPECT_EQ(q.size(), 5u);
  EXPECT_EQ(q.front(), 0);
  EXPECT_EQ(q.back(), 4);
  q.pop_front();
  q.back() = 40;  // the newest element is writable in place (ACK coalescing)
  std::vector<int> seen(q.begin(), q.end());
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 40}));
  q.clear();
  EXPECT_TRUE(q.empty());
}

// Against std::deque: random pushes and pops, including long stretches that
// never empty the queue (which make it compact).
TEST(ReusedFifo, MatchesADequeUnderRandomUse) {
  ReusedFifo<int> q;
  std::deque<int> model;
  std::mt19937 rng(7);
  for (int step = 0; step < 100000; ++step) {
    const bool push = model.empty() || rng() % 100 < (step % 5000 < 2500 ? 55u : 45u);
    if (push) {
      q.push_back(step);
      model.push_back(step);
    } else {
      ASSERT_EQ(q.front(), model.front());
      q.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(q.size(), model.size());
    if (!model.empty()) {
      ASSERT_EQ(q.back(), model.back());
    }
  }
  EXPECT_TRUE(std::equal(q.begin(), q.end(), model.begin(), model.end()));
}

}  // namespace
}  // namespace flexins::transport
