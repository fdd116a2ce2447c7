// The pacer: long-run rate, bursts after idle, rate changes, unpaced.
#include "cc/pacer.h"

#include <gtest/gtest.h>

namespace flexins::cc {
namespace {

// Sends `count` packets as early as the pacer allows, starting at t0;
// returns the achieved rate in bit/s over [t0, time the next could leave).
double greedy_rate(Pacer& pacer, uint64_t t0, uint32_t bytes, int count) {
  uint64_t t = t0;
  for (int i = 0; i < count; ++i) {
    t = pacer.next_send_ns(t);
    EXPECT_TRUE(pacer.may_send(t));
    pacer.on_sent(t, bytes);
  }
  uint64_t end = pacer.next_send_ns(t);
  return double(bytes) * 8 * count * 1e9 / double(end - t0);
}

TEST(Pacer, LongRunRateMatchesWithinOnePercent) {
  for (uint64_t rate : {25'000'000ull, 1'000'000'000ull, 3'300'000'000ull, 10'000'000'000ull,
                        100'000'000'000ull}) {
    for (uint32_t bytes : {64u, 1024u, 1500u, 4096u, 9000u}) {
      Pacer pacer(0);
      pacer.set_rate(0, rate);
      double got = greedy_rate(pacer, 0, bytes, 20'000);
      EXPECT_NEAR(got / double(rate), 1.0, 0.01) << rate << " bit/s, " << bytes << " B";
    }
  }
}

TEST(Pacer, PacketsLeaveNoSoonerThanTheRateAllows) {
  Pacer pacer(0);
  pacer.set_rate(0, 1'000'000'000);  // 1 Gb/s: 1000 B take 8 µs
  EXPECT_TRUE(pacer.may_send(0));
  pacer.on_sent(0, 1000);
  EXPECT_FALSE(pacer.may_send(7'999));
  EXPECT_EQ(pacer.next_send_ns(100), 8'000u);
  EXPECT_TRUE(pacer.may_send(8'000));
  // Send times round up to whole ns: 8000 bits at 3 bit/ns take 2666.7 ns.
  Pacer odd(0);
  odd.set_rate(0, 3'000'000'000);
  odd.on_sent(0, 1000);
  EXPECT_EQ(odd.next_send_ns(0), 2'667u);
  EXPECT_FALSE(odd.may_send(2'666));
  EXPECT_TRUE(odd.may_send(2'667));
}

TEST(Pacer, IdleTimeBuysAtMostTheBurst) {
  Pacer pacer(16 * 1024);
  pacer.set_rate(0, 1'000'000'000);
  // After a long idle period: 16 KiB of credit, so five 4 KiB packets leave
  // at once (the fifth goes into debt), then pacing resumes.
  const uint64_t t = 10'000'000'000;
  int at_once = 0;
  while (pacer.may_send(t) && at_once < 100) {
    pacer.on_sent(t, 4096);
    ++at_once;
  }
  EXPECT_EQ(at_once, 5);
  EXPECT_EQ(pacer.next_send_ns(t), t + 4096 * 8);  // the debt of one packet, in ns at 1 bit/ns
}

TEST(Pacer, RateChangeKeepsEarnedCreditAndAppliesAtOnce) {
  Pacer pacer(0);
  pacer.set_rate(0, 1'000'000'000);
  pacer.on_sent(0, 1000);  // 8000 ns of debt at 1 Gb/s
  pacer.set_rate(4'000, 2'000'000'000);  // half paid; the rest at 2 bit/ns
  EXPECT_EQ(pacer.next_send_ns(4'000), 6'000u);
  double got = greedy_rate(pacer, 6'000, 1000, 1000);
  EXPECT_NEAR(got, 2e9, 2e9 * 0.01);
}

TEST(Pacer, UnpacedAlwaysSendsNow) {
  Pacer pacer;
  for (uint64_t t = 0; t < 10; ++t) {
    EXPECT_EQ(pacer.next_send_ns(t), t);
    pacer.on_sent(t, 65536);
  }
  pacer.set_rate(10, 1'000'000);
  pacer.on_sent(10, 125);  // 1000 bits at 1 Mb/s: 1 ms
  EXPECT_EQ(pacer.next_send_ns(10), 1'000'010u);
  pacer.set_rate(20, kUnpaced);
  EXPECT_EQ(pacer.next_send_ns(20), 20u);
}

}  // namespace
}  // namespace flexins::cc
