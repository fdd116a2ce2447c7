// The switch port, packet by packet with scripted time: when each packet
// leaves, what the queue holds, which packets are dropped or marked.
#include "fabric/switch_port.h"

#include <gtest/gtest.h>

namespace flexins::fabric {
namespace {

SwitchPortConfig plain(uint64_t rate_bps, uint64_t buffer = kUnlimitedBytes) {
  SwitchPortConfig c;
  c.rate_bps = rate_bps;
  c.buffer_bytes = buffer;
  c.propagation_ns = 500;
  return c;
}

TEST(SwitchPort, SerialisesAtLineRate) {
  // 1000 B at 10 Gb/s: 800 ns each, back to back.
  SwitchPort port(plain(10'000'000'000));
  Admission last;
  for (int i = 0; i < 1000; ++i) last = port.enqueue(0, 1000, false);
  EXPECT_EQ(last.depart_ns, 1000u * 800);
  EXPECT_EQ(last.arrive_ns, 1000u * 800 + 500);
  EXPECT_EQ(port.counters().forwarded_packets, 1000u);
  EXPECT_EQ(port.counters().forwarded_bytes, 1'000'000u);
}

TEST(SwitchPort, FractionsOfANanosecondCarryOver) {
  // 1000 B at 7 Gb/s is 1142.857 ns: rounded up per packet, exact over 7.
  SwitchPort port(plain(7'000'000'000));
  EXPECT_EQ(port.enqueue(0, 1000, false).depart_ns, 1143u);
  for (int i = 1; i < 6; ++i) port.enqueue(0, 1000, false);
  EXPECT_EQ(port.enqueue(0, 1000, false).depart_ns, 8000u);  // the 7th: 7 * 8000 / 7
}

TEST(SwitchPort, QueueingDelayIsTheBacklogAhead) {
  SwitchPort port(plain(8'000'000'000));  // 1000 B = 1000 ns
  for (int i = 0; i < 10; ++i) port.enqueue(0, 1000, false);
  // At 2500 ns, 2 have left, the third is on the wire: 8 packets queued.
  EXPECT_EQ(port.queue_bytes(2500), 8000u);
  EXPECT_EQ(port.queue_packets(2500), 8u);
  const Admission a = port.enqueue(2500, 1000, false);
  EXPECT_EQ(a.queue_bytes, 8000u);
  EXPECT_EQ(a.depart_ns, 11'000u);  // after the 10 ahead of it
  // Idle again later: a packet leaves one serialisation after arriving.
  EXPECT_EQ(port.queue_bytes(11'000), 0u);
  EXPECT_EQ(port.enqueue(20'000, 1000, false).depart_ns, 21'000u);
  EXPECT_EQ(port.counters().max_queue_bytes, 10'000u);
}

TEST(SwitchPort, TimeUntilTheQueueHoldsAtMostN) {
  SwitchPort port(plain(8'000'000'000));
  for (int i = 0; i < 5; ++i) port.enqueue(0, 1000, false);
  EXPECT_EQ(port.time_queue_at_most(0, 5), 0u);
  EXPECT_EQ(port.time_queue_at_most(0, 4), 1000u);
  EXPECT_EQ(port.time_queue_at_most(0, 0), 5000u);
}

TEST(SwitchPort, TailDropsWhenTheBufferIsFull) {
  SwitchPort port(plain(8'000'000'000, 10'000));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(port.enqueue(0, 1000, false).verdict, Verdict::kForwarded);
  EXPECT_EQ(port.enqueue(0, 1000, false).verdict, Verdict::kTailDrop);
  EXPECT_EQ(port.enqueue(0, 1, false).verdict, Verdict::kTailDrop);  // not even one byte more
  EXPECT_EQ(port.counters().tail_drop_packets, 2u);
  EXPECT_EQ(port.counters().tail_drop_bytes, 1001u);
  // One packet has left by 1000 ns: room for one more.
  EXPECT_EQ(port.enqueue(1000, 1000, false).verdict, Verdict::kForwarded);
  EXPECT_EQ(port.enqueue(1000, 1000, false).verdict, Verdict::kTailDrop);
  EXPECT_EQ(port.counters().forwarded_packets, 11u);
  EXPECT_EQ(port.counters().max_queue_bytes, 10'000u);
}

TEST(SwitchPort, MarkingProbabilityFollowsRedThresholds) {
  SwitchPortConfig c = plain(8'000'000'000);
  c.kmin_bytes = 5000;
  c.kmax_bytes = 20'000;
  c.pmax = 0.1;
  SwitchPort port(c);
  EXPECT_EQ(port.mark_probability(0), 0);
  EXPECT_EQ(port.mark_probability(5000), 0);  // at Kmin: not yet
  EXPECT_DOUBLE_EQ(port.mark_probability(12'500), 0.05);
  EXPECT_DOUBLE_EQ(port.mark_probability(20'000), 0.1);  // Pmax at Kmax
  EXPECT_EQ(port.mark_probability(20'001), 1);           // always above
  SwitchPort off(plain(8'000'000'000));
  EXPECT_EQ(off.mark_probability(1'000'000), 0);
}

TEST(SwitchPort, MarksOnlyEctPacketsAndAlwaysAboveKmax) {
  SwitchPortConfig c = plain(8'000'000'000);
  c.kmin_bytes = 1000;
  c.kmax_bytes = 2000;
  c.pmax = 0.5;
  SwitchPort port(c);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(port.enqueue(0, 1000, false).marked);
  // The queue is now 3000 B > Kmax: every ECT packet is marked, no other.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(port.enqueue(0, 1000, true).marked);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(port.enqueue(0, 1000, false).marked);
  EXPECT_EQ(port.counters().marked_packets, 5u);
}

// Hold the queue at `level` bytes (1000-B packets at 1000 ns each, one
// arriving as one leaves) and count the marks among n arrivals.
uint64_t marks_at_level(uint64_t seed, uint64_t level, int n) {
  SwitchPortConfig c = plain(8'000'000'000);
  c.kmin_bytes = 2000;
  c.kmax_bytes = 22'000;
  c.pmax = 0.2;
  c.seed = seed;
  SwitchPort port(c);
  // One more than the level: each arrival comes as one packet leaves.
  for (uint64_t q = 0; q <= level; q += 1000) port.enqueue(0, 1000, false);
  uint64_t marks = 0;
  for (int k = 1; k <= n; ++k) {
    const Admission a = port.enqueue(uint64_t(k) * 1000, 1000, true);
    EXPECT_EQ(a.queue_bytes, level);
    marks += a.marked;
  }
  return marks;
}

TEST(SwitchPort, MarksWithTheLinearProbabilityForAFixedSeed) {
  // At 12000 B: p = 0.2 * (12000 - 2000) / 20000 = 0.1; 20000 arrivals give
  // 2000 marks on average (standard deviation ~42).
  const uint64_t m = marks_at_level(7, 12'000, 20'000);
  EXPECT_GT(m, 1800u);
  EXPECT_LT(m, 2200u);
  EXPECT_EQ(marks_at_level(7, 12'000, 20'000), m);  // the same seed, the same marks
  EXPECT_NE(marks_at_level(8, 12'000, 20'000), m);  // another seed, other marks
  // At 4000 B: p = 0.02.
  const uint64_t low = marks_at_level(7, 4000, 20'000);
  EXPECT_GT(low, 300u);
  EXPECT_LT(low, 500u);
}

TEST(SwitchPort, RandomLossIsSeededAndTakesNoBuffer) {
  auto run = [](uint64_t seed) {
    SwitchPortConfig c = plain(8'000'000'000);
    c.loss = 0.05;
    c.seed = seed;
    SwitchPort port(c);
    for (int k = 0; k < 20'000; ++k) {
      const Admission a = port.enqueue(uint64_t(k) * 1000, 1000, false);
      if (a.verdict == Verdict::kRandomLoss) {
        EXPECT_EQ(a.depart_ns, 0u);
      }
    }
    EXPECT_EQ(port.counters().loss_packets + port.counters().forwarded_packets, 20'000u);
    return port.counters().loss_packets;
  };
  const uint64_t lost = run(3);
  EXPECT_GT(lost, 850u);  // 1000 expected, sd ~31
  EXPECT_LT(lost, 1150u);
  EXPECT_EQ(run(3), lost);
}

TEST(SwitchPort, RefusesNonsense) {
  SwitchPortConfig c = plain(0);
  EXPECT_THROW(SwitchPort{c}, std::invalid_argument);
  c = plain(1'000'000'000);
  c.pmax = 1.5;
  EXPECT_THROW(SwitchPort{c}, std::invalid_argument);
  c = plain(1'000'000'000);
  c.kmin_bytes = 10;
  c.kmax_bytes = 5;
  EXPECT_THROW(SwitchPort{c}, std::invalid_argument);
}

}  // namespace
}  // namespace flexins::fabric
