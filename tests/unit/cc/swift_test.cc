// Swift-style delay-based window: AI under the target, MD proportional to
// the excess delay at most once per RTT, floor/ceiling, pacing below one
// packet. Expected values follow the rules in cc/swift.h.
#include "cc/swift.h"

#include <gtest/gtest.h>

namespace flexins::cc {
namespace {

constexpr uint64_t kMtu = 4096;
constexpr uint64_t kTarget = 50'000;

TEST(Swift, IncreasesByAiPerWindowUnderTarget) {
  SwiftPolicy p;
  ASSERT_DOUBLE_EQ(p.cwnd_packets(), 64);
  EXPECT_EQ(p.window_bytes(), 64 * kMtu);
  EXPECT_EQ(p.rate_bps(), kUnpaced);
  // A whole window acknowledged, one packet per ACK, under target: about
  // +1 packet (ai = 1 per RTT).
  for (int i = 0; i < 64; ++i) p.on_ack(1000 + uint64_t(i), kMtu, kTarget / 2, false);
  EXPECT_NEAR(p.cwnd_packets(), 65, 0.02);
  EXPECT_EQ(p.window_bytes(), 64 * kMtu);  // whole packets only
  // One ACK for 64 packets adds ai * 64 / cwnd.
  double before = p.cwnd_packets();
  p.on_ack(5000, 64 * kMtu, kTarget - 1, false);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), before + 64 / before);
}

TEST(Swift, DecreaseIsProportionalToExcessDelay) {
  SwiftPolicy small, large;
  small.on_ack(1'000'000, kMtu, kTarget * 5 / 4, false);  // 25 % over the target
  // 1 - β (rtt - target) / rtt = 1 - 0.8 * 0.2
  EXPECT_DOUBLE_EQ(small.cwnd_packets(), 64 * (1 - 0.8 * 0.2));
  large.on_ack(1'000'000, kMtu, kTarget * 2, false);  // 100 % over
  EXPECT_DOUBLE_EQ(large.cwnd_packets(), 64 * (1 - 0.8 * 0.5));
  EXPECT_LT(large.cwnd_packets(), small.cwnd_packets());
  // Far over the target the step is capped at max_mdf = 0.5.
  SwiftPolicy huge;
  huge.on_ack(1'000'000, kMtu, kTarget * 100, false);
  EXPECT_DOUBLE_EQ(huge.cwnd_packets(), 32);
}

TEST(Swift, DecreasesAtMostOncePerRtt) {
  SwiftPolicy p;
  const uint64_t rtt = 2 * kTarget;
  p.on_ack(1'000'000, kMtu, rtt, false);
  double once = p.cwnd_packets();
  EXPECT_LT(once, 64);
  p.on_ack(1'000'000 + rtt / 2, kMtu, rtt, false);
  p.on_ack(1'000'000 + rtt - 1, kMtu, rtt, false);
  p.on_loss(1'000'000 + rtt - 1);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), once);
  p.on_ack(1'000'000 + rtt, kMtu, rtt, false);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), once * (1 - 0.8 * 0.5));
}

TEST(Swift, AckWithoutRttSampleChangesNothing) {
  SwiftPolicy p;
  p.on_ack(1000, 64 * kMtu, 0, true);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 64);
}

TEST(Swift, PacesBelowOnePacketAndStopsAtTheFloor) {
  SwiftPolicy p;
  const uint64_t rtt = 4 * kTarget;
  uint64_t t = 1'000'000;
  for (int i = 0; i < 7; ++i, t += rtt) p.on_loss(t);  // 64 / 2^7 = 0.5
  p.on_ack(t, kMtu, rtt, false);                         // also sets the RTT used for pacing
  t += rtt;
  double cwnd = p.cwnd_packets();
  ASSERT_LT(cwnd, 1);
  EXPECT_EQ(p.window_bytes(), kMtu);  // one packet at a time
  // One packet per RTT / cwnd.
  EXPECT_EQ(p.rate_bps(), uint64_t(cwnd * kMtu * 8 * 1e9 / double(rtt)));
  for (int i = 0; i < 100; ++i, t += rtt) p.on_loss(t);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 0.001);
  EXPECT_GT(p.rate_bps(), 0u);
}

TEST(Swift, RepeatedTimeoutsResetToTheFloorAndAcksClearTheCount) {
  SwiftPolicy p;
  uint64_t t = 1'000'000;
  for (int i = 0; i < 4; ++i) p.on_timeout(t += 1'000'000);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 64.0 / 16);
  p.on_ack(t, kMtu, 0, false);  // any ACK ends the run of timeouts
  for (int i = 0; i < 4; ++i) p.on_timeout(t += 1'000'000);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 4.0 / 16);
  p.on_timeout(t += 1'000'000);  // the 5th in a row
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 0.001);
}

TEST(Swift, WindowNeverExceedsTheCeiling) {
  SwiftPolicy p;
  ASSERT_FALSE(p.set_param("max_cwnd", 100));
  for (int i = 0; i < 100'000; ++i) p.on_ack(uint64_t(i), kMtu, 1000, false);
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 100);
  EXPECT_EQ(p.window_bytes(), 100 * kMtu);
  auto err = p.set_param("min_cwnd", 200);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("min_cwnd must not exceed max_cwnd"), std::string::npos) << *err;
  // Lowering the ceiling clamps at once.
  ASSERT_FALSE(p.set_param("max_cwnd", 10));
  EXPECT_DOUBLE_EQ(p.cwnd_packets(), 10);
}

}  // namespace
}  // namespace flexins::cc
