// DCQCN reaction point and notification point, driven with scripted time.
// Expected values follow the update rules of Zhu et al. §3 (see cc/dcqcn.h).
#include "cc/dcqcn.h"

#include <gtest/gtest.h>

#include <cmath>

namespace flexins::cc {
namespace {

constexpr double kLine = 100e9;
constexpr uint64_t kK = 55'000;  // alpha timer and increase timer, ns
constexpr double kG = 1.0 / 256;

TEST(Dcqcn, StartsUnpacedAtLineRateWithNoTimer) {
  DcqcnPolicy p;
  EXPECT_EQ(p.rate_bps(), kUnpaced);
  EXPECT_EQ(p.window_bytes(), kUnlimitedWindow);
  EXPECT_EQ(p.next_timer_ns(), kNoTimer);
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), kLine);
  EXPECT_DOUBLE_EQ(p.alpha(), 1.0);
}

TEST(Dcqcn, FirstCnpHalvesTheRateAndArmsTheTimers) {
  DcqcnPolicy p;
  p.on_cnp(1'000'000);
  // α = 1: Rc = Rc (1 - 1/2); Rt remembers the old rate.
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), kLine / 2);
  EXPECT_DOUBLE_EQ(p.target_rate_bps(), kLine);
  EXPECT_EQ(p.rate_bps(), uint64_t(kLine / 2));
  EXPECT_DOUBLE_EQ(p.alpha(), 1.0);  // (1 - g) 1 + g
  EXPECT_EQ(p.next_timer_ns(), 1'000'000 + kK);
}

TEST(Dcqcn, AlphaDecaysOncePerPeriodWithoutCnp) {
  DcqcnPolicy p;
  // A slow increase timer keeps the flow cut, so the K timer is the next one.
  ASSERT_FALSE(p.set_param("increase_timer_ns", 1e9));
  const uint64_t t0 = 5'000'000;
  p.on_cnp(t0);
  p.on_timer(t0 + kK / 2);  // not due: nothing changes
  EXPECT_DOUBLE_EQ(p.alpha(), 1.0);
  for (uint64_t n = 1; n <= 20; ++n) {
    ASSERT_EQ(p.next_timer_ns(), t0 + n * kK);
    p.on_timer(t0 + n * kK);
    EXPECT_NEAR(p.alpha(), std::pow(1 - kG, double(n)), 1e-12) << "after " << n << " periods";
  }
  // A late timer applies every period that passed.
  p.on_timer(t0 + 30 * kK + 7);
  EXPECT_NEAR(p.alpha(), std::pow(1 - kG, 30.0), 1e-12);
}

TEST(Dcqcn, CnpCutsByHalfOfAlphaAndRaisesAlphaByG) {
  DcqcnPolicy p;
  const uint64_t t0 = 1'000'000;
  p.on_cnp(t0);
  p.on_timer(t0 + 10 * kK);
  double alpha = p.alpha();
  ASSERT_NEAR(alpha, std::pow(1 - kG, 10.0), 1e-12);
  double rc = p.current_rate_bps();
  p.on_cnp(t0 + 10 * kK);
  EXPECT_DOUBLE_EQ(p.target_rate_bps(), rc);
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), rc * (1 - alpha / 2));
  EXPECT_DOUBLE_EQ(p.alpha(), (1 - kG) * alpha + kG);
  // The increase state starts over.
  EXPECT_EQ(p.timer_events(), 0u);
  EXPECT_EQ(p.byte_events(), 0u);
  EXPECT_EQ(p.next_timer_ns(), t0 + 11 * kK);
}


TEST(Dcqcn, RecoveryIsFastThenAdditiveThenHyper) {
  DcqcnPolicy p;
  const uint64_t t0 = 1'000'000;
  // Two CNPs at once: Rt = 50 G, Rc = 25 G, below line rate so that
  // additive and hyper increase show in Rt.
  p.on_cnp(t0);
  p.on_cnp(t0);
  ASSERT_DOUBLE_EQ(p.target_rate_bps(), 50e9);
  ASSERT_DOUBLE_EQ(p.current_rate_bps(), 25e9);

  // Fast recovery: F = 5 timer events halve the distance to Rt each time.
  uint64_t t = t0;
  for (int k = 1; k <= 5; ++k) {
    t += kK;
    p.on_timer(t);
    EXPECT_DOUBLE_EQ(p.target_rate_bps(), 50e9);
    EXPECT_DOUBLE_EQ(p.current_rate_bps(), 50e9 - 25e9 / std::pow(2.0, k)) << "step " << k;
  }
  // Additive: the timer is past F, the byte counter is not.
  t += kK;
  double rc = p.current_rate_bps();
  p.on_timer(t);
  EXPECT_EQ(p.timer_events(), 6u);
  EXPECT_DOUBLE_EQ(p.target_rate_bps(), 50e9 + 40e6);
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), (50e9 + 40e6 + rc) / 2);
  // Byte-counter events 1..5 are additive too (only one source past F).
  const uint32_t kPacket = 4096;
  const uint64_t kB = 10'000'000;
  double rt = p.target_rate_bps();
  for (int bc = 1; bc <= 5; ++bc) {
    for (uint64_t sent = 0; sent < kB; sent += kPacket) p.on_send(t, kPacket, 0);
    EXPECT_EQ(p.byte_events(), uint64_t(bc));
    rt += 40e6;
    EXPECT_DOUBLE_EQ(p.target_rate_bps(), rt) << "byte event " << bc;
  }
  // Hyper: both past F; Rt grows by i R_HAI, i = min(T, BC) - F.
  for (uint64_t sent = 0; sent < kB; sent += kPacket) p.on_send(t, kPacket, 0);
  EXPECT_EQ(p.byte_events(), 6u);
  rt += 1 * 100e6;
  EXPECT_DOUBLE_EQ(p.target_rate_bps(), rt);
  t += kK;
  p.on_timer(t);  // T = 7, BC = 6: i = 1
  rt += 1 * 100e6;
  EXPECT_DOUBLE_EQ(p.target_rate_bps(), rt);
  for (uint64_t sent = 0; sent < kB; sent += kPacket) p.on_send(t, kPacket, 0);
  rt += 2 * 100e6;  // T = 7, BC = 7: i = 2
  EXPECT_DOUBLE_EQ(p.target_rate_bps(), rt);
}

TEST(Dcqcn, RateStaysWithinMinAndLineAndRecoveryEndsAtLine) {
  DcqcnPolicy p;
  ASSERT_FALSE(p.set_param("min_rate_bps", 1e9));
  uint64_t t = 1'000'000;
  for (int i = 0; i < 200; ++i) {
    p.on_cnp(t);
    EXPECT_GE(p.current_rate_bps(), 1e9);
    t += 1000;
  }
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), 1e9);
  // Climb back: timers and bytes, never above line rate.
  int steps = 0;
  while (p.rate_limited() && steps < 100'000) {
    t = p.next_timer_ns();
    p.on_timer(t);
    for (int i = 0; i < 100; ++i) p.on_send(t, 100'000, 0);
    EXPECT_LE(p.current_rate_bps(), kLine);
    EXPECT_LE(p.target_rate_bps(), kLine);
    ++steps;
  }
  EXPECT_FALSE(p.rate_limited());
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), kLine);
  EXPECT_EQ(p.rate_bps(), kUnpaced);
  EXPECT_EQ(p.next_timer_ns(), kNoTimer);
}

TEST(Dcqcn, BurstOfCnpsReactsToEachByDefault) {
  DcqcnPolicy p;
  const uint64_t t0 = 1'000'000;
  for (uint64_t i = 0; i < 3; ++i) p.on_cnp(t0 + i * 1000);
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), kLine / 8);
  EXPECT_EQ(p.cnps_ignored(), 0u);
}

TEST(Dcqcn, BurstOfCnpsWithinTheCutIntervalCutsOnce) {
  DcqcnPolicy p;
  ASSERT_FALSE(p.set_param("cnp_cut_interval_ns", 50'000));
  const uint64_t t0 = 1'000'000;
  for (uint64_t i = 0; i < 3; ++i) p.on_cnp(t0 + i * 1000);
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), kLine / 2);
  EXPECT_EQ(p.cnps_ignored(), 2u);
  p.on_cnp(t0 + 50'000);  // a full interval after the cut
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), kLine / 4);
  EXPECT_EQ(p.cnps_ignored(), 2u);
}

TEST(Dcqcn, ParamsAreCheckedAndListed) {
  DcqcnPolicy p;
  EXPECT_FALSE(p.set_param("g", 0.00390625));
  auto err = p.set_param("g", 1.5);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("out of range"), std::string::npos) << *err;
  err = p.set_param("min_rate_bps", 200e9);  // above line rate
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("min_rate_bps must not exceed line_rate_bps"), std::string::npos) << *err;
  err = p.set_param("fast_recovery_steps", 2.5);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("whole number"), std::string::npos) << *err;
  bool saw_min = false, saw_f = false;
  for (const ParamInfo& i : p.params()) {
    if (i.name == "min_rate_bps") saw_min = i.value == 10e6;  // the refused value left no trace
    if (i.name == "fast_recovery_steps") saw_f = i.value == 5;
  }
  EXPECT_TRUE(saw_min);
  EXPECT_TRUE(saw_f);
  // A lower line rate applies at once.
  EXPECT_FALSE(p.set_param("line_rate_bps", 25e9));
  EXPECT_DOUBLE_EQ(p.current_rate_bps(), 25e9);
}

TEST(CnpGenerator, AtMostOneCnpPerIntervalPerQp) {
  CnpGenerator qp1, qp2;
  EXPECT_TRUE(qp1.on_ce_marked(1'000'000));
  EXPECT_FALSE(qp1.on_ce_marked(1'010'000));
  EXPECT_FALSE(qp1.on_ce_marked(1'049'999));
  EXPECT_TRUE(qp2.on_ce_marked(1'020'000));  // another QP has its own clock
  EXPECT_TRUE(qp1.on_ce_marked(1'050'000));
  EXPECT_FALSE(qp1.on_ce_marked(1'099'999));
  EXPECT_TRUE(qp1.on_ce_marked(1'200'000));
  EXPECT_EQ(qp1.suppressed(), 3u);
  EXPECT_EQ(qp2.suppressed(), 0u);
}

TEST(CnpGenerator, SteadyMarkingYieldsOneCnpPer50us) {
  CnpGenerator np;
  int cnps = 0;
  // A marked packet every 1 µs for 1 ms: 20 CNPs.
  for (uint64_t t = 0; t < 1'000'000; t += 1000) cnps += np.on_ce_marked(t) ? 1 : 0;
  EXPECT_EQ(cnps, 20);
}

}  // namespace
}  // namespace flexins::cc
