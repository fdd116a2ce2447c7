#include "cc/none_policy.h"

#include <gtest/gtest.h>

namespace flexins::cc {
namespace {

TEST(NonePolicy, FixedWindowNoPacingIgnoresSignals) {
  NonePolicy p;
  EXPECT_EQ(p.window_bytes(), 4u << 20);
  p.on_cnp(1);
  p.on_loss(2);
  p.on_timeout(3);
  p.on_ack(4, 4096, 100'000'000, true);
  EXPECT_EQ(p.window_bytes(), 4u << 20);
  EXPECT_EQ(p.rate_bps(), kUnpaced);
  EXPECT_EQ(p.next_timer_ns(), kNoTimer);
  EXPECT_FALSE(p.set_param("window", 65536));
  EXPECT_EQ(p.window_bytes(), 65536u);
  EXPECT_FALSE(p.set_param("window", 0));
  EXPECT_EQ(p.window_bytes(), kUnlimitedWindow);
  EXPECT_TRUE(p.set_param("window", -1));
}

}  // namespace
}  // namespace flexins::cc
