// Congestion control in the RC transport (transport/congestion.*): the
// events a policy is told, the window and pacing it imposes, CNPs out of
// the notification point and into the reaction point, RTT samples, and
// switching a live QP's policy.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "cc/dcqcn.h"
#include "cc/registry.h"
#include "harness.h"

namespace flexins::transport::test {
namespace {

// A policy that records what it is told and answers with fixed values.
class SpyPolicy final : public cc::CongestionControl {
 public:
  struct Log {
    uint64_t sends = 0, send_bytes = 0, acks = 0, acked_bytes = 0, rtt_samples = 0, last_rtt_ns = 0;
    uint64_t cnps = 0, losses = 0, timeouts = 0, timers = 0;
  };
  SpyPolicy(Log& log, uint64_t rate_bps, uint64_t window_bytes)
      : log_(log), rate_(rate_bps), window_(window_bytes) {}

  std::string_view name() const override { return "spy"; }
  void on_send(uint64_t, uint32_t bytes, uint32_t) override {
    ++log_.sends;
    log_.send_bytes += bytes;
  }
  void on_ack(uint64_t, uint64_t acked, uint64_t rtt, bool) override {
    ++log_.acks;
    log_.acked_bytes += acked;
    if (rtt != 0) {
      ++log_.rtt_samples;
      log_.last_rtt_ns = rtt;
    }
  }
  void on_cnp(uint64_t) override { ++log_.cnps; }
  void on_loss(uint64_t) override { ++log_.losses; }
  void on_timeout(uint64_t) override { ++log_.timeouts; }
  void on_timer(uint64_t) override { ++log_.timers; }
  uint64_t next_timer_ns() const override { return cc::kNoTimer; }
  uint64_t rate_bps() const override { return rate_; }
  uint64_t window_bytes() const override { return window_; }
  std::optional<std::string> set_param(std::string_view key, double value) override {
    if (key != "rate_bps") return "spy: unknown parameter " + std::string(key);
    rate_ = uint64_t(value);
    return std::nullopt;
  }
  std::vector<cc::ParamInfo> params() const override { return {{"rate_bps", double(rate_), "pacing rate"}}; }

 private:
  Log& log_;
  uint64_t rate_;
  uint64_t window_;
};

// A WRITE of `size` bytes from A to B, signaled.
void post_write(Fabric& f, const Buffer& src, const Buffer& dst, uint32_t size, uint64_t wr_id = 1) {
  pipe::SendWqe w = make_wqe(wr_id, IBV_WR_RDMA_WRITE);
  w.remote_addr = dst.addr;
  w.rkey = dst.rkey;
  f.a().post_send(w, {src.sge(0, size)});
}

TEST(Congestion, APolicyIsToldOfEverySendAndAck) {
  Fabric f;  // MTU 1024
  f.connect();
  SpyPolicy::Log log;
  ASSERT_TRUE(f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, cc::kUnpaced, cc::kUnlimitedWindow)));
  Buffer src = f.a().reg(64 * 1024), dst = f.b().reg(64 * 1024);
  post_write(f, src, dst, 64 * 1024);
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  EXPECT_EQ(log.sends, 64u);  // 64 KiB at MTU 1024
  // Each packet's bytes on the wire: BTH .. ICRC (the first has a RETH).
  EXPECT_EQ(log.send_bytes, 64u * (12 + 1024 + 4) + 16);
  EXPECT_GE(log.acks, 1u);
  EXPECT_EQ(log.acked_bytes, 64u * 1024);  // every packet acknowledged once, counted at the MTU
  EXPECT_EQ(log.losses + log.timeouts + log.cnps, 0u);
  EXPECT_EQ(f.a().qp->info().cc, "spy");
}

TEST(Congestion, TheWindowBoundsPacketsInFlightAndAckReqKeepsItOpen) {
  Fabric f;
  f.connect();
  SpyPolicy::Log log;
  // Four MTU-sized packets in flight at most.
  f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, cc::kUnpaced, 4 * 1024));
  Buffer src = f.a().reg(64 * 1024), dst = f.b().reg(64 * 1024);
  fill_pattern(src.data, src.size, 3);
  post_write(f, src, dst, 64 * 1024);
  uint32_t most = 0;
  for (int step = 0; step < 200 && f.a().send_cqes().empty(); ++step) {
    f.pump(0);
    most = std::max<uint32_t>(most, uint32_t(f.wire().size()));
    EXPECT_LE(f.a().qp->info().inflight_packets, 4u);
    f.deliver_all();  // to B
    f.pump(1);        // B's ACKs
    f.deliver_all();  // to A
  }
  EXPECT_EQ(most, 4u);
  EXPECT_EQ(std::memcmp(dst.data, src.data, src.size), 0);
  // No retransmit timer was needed: the window's packets asked for ACKs.
  EXPECT_EQ(f.a().counters().retransmit_timeouts.get(), 0u);
}

TEST(Congestion, ThePacerSpacesPacketsAtThePolicysRate) {
  Fabric f;
  f.connect();
  SpyPolicy::Log log;
  const uint64_t rate = 1'000'000'000;  // 1 Gb/s
  f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, rate, cc::kUnlimitedWindow));
  const uint32_t size = 1 << 20;
  Buffer src = f.a().reg(size), dst = f.b().reg(size);
  post_write(f, src, dst, size);
  const uint64_t start = f.now();
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  // 1 MiB plus headers at 1 Gb/s is about 8.6 ms; the pacer's burst lets
  // the first 16 KiB go at once.
  const double expected_ns = double(log.send_bytes - 16 * 1024) * 8 / 1e9 * 1e9;
  const double took_ns = double(f.now() - start);
  EXPECT_GT(took_ns, expected_ns * 0.98);
  EXPECT_LT(took_ns, expected_ns * 1.05);
}

TEST(Congestion, ACeMarkedRequestIsAnsweredWithOneCnpPerInterval) {
  Fabric f;
  f.connect();
  cc::DcqcnConfig cfg;
  cfg.line_rate_bps = 10e9;
  f.a().qp->set_congestion_control(std::make_unique<cc::DcqcnPolicy>(cfg));
  // Every request from A arrives marked.
  f.set_ce_marker([&](const WirePacket& w) { return w.to == 1; });
  Buffer src = f.a().reg(64 * 1024), dst = f.b().reg(64 * 1024);
  post_write(f, src, dst, 16 * 1024);
  f.pump(0);
  ASSERT_EQ(f.wire().size(), 16u);
  f.deliver_all();
  // Sixteen marked packets within one instant: one CNP (annex A17.9.2: to
  // A's QP, BECN set).
  EXPECT_EQ(f.b().qp->info().stats.rx_ecn_ce, 16u);
  EXPECT_EQ(f.b().counters().cnps_sent.get(), 1u);
  size_t cnps = 0;
  for (const WirePacket& w : f.wire()) {
    if (w.parsed.bth.opcode != wire::kCnp) continue;
    ++cnps;
    EXPECT_EQ(w.parsed.bth.dest_qp, f.a().qpn);
    EXPECT_TRUE(w.parsed.bth.becn);
    EXPECT_EQ(w.bytes.size(), 12u + 16 + 4);  // BTH, 16 reserved bytes, ICRC
  }
  EXPECT_EQ(cnps, 1u);
  f.pump(1);
  f.deliver_all();
  // The reaction point cut its rate: DCQCN's first cut halves it (α = 1).
  EXPECT_EQ(f.a().qp->info().stats.cnps_received, 1u);
  EXPECT_EQ(f.a().counters().cnps_received.get(), 1u);
  EXPECT_EQ(f.a().qp->info().cc_rate_bps, uint64_t(5e9));
  // Another marked burst 50 µs later earns another CNP.
  f.advance(50'000);
  post_write(f, src, dst, 4096, 2);
  f.run(0);
  EXPECT_EQ(f.b().counters().cnps_sent.get(), 2u);
  EXPECT_EQ(f.a().qp->info().stats.cnps_received, 2u);
}

TEST(Congestion, ACnpReachesTheReactionPointOnlyInRts) {
  Fabric f;
  f.connect();
  SpyPolicy::Log log;
  f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, cc::kUnpaced, cc::kUnlimitedWindow));
  wire::Packet cnp;
  cnp.bth.opcode = wire::kCnp;
  cnp.bth.becn = true;
  f.inject(1, cnp);  // from B, A's peer
  f.deliver_all();
  EXPECT_EQ(log.cnps, 1u);
  EXPECT_EQ(f.a().qp->info().stats.cnps_received, 1u);
  // A QP in the error state sends nothing: the CNP is dropped and counted.
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_ERR;
  ASSERT_EQ(f.a().qp->modify(attr, IBV_QP_STATE), 0);
  const uint64_t dropped = f.a().counters().rx_drop_qp_state.get();
  f.inject(1, cnp);
  f.deliver_all();
  EXPECT_EQ(log.cnps, 1u);
  EXPECT_EQ(f.a().counters().rx_drop_qp_state.get(), dropped + 1);
}

TEST(Congestion, RttSamplesComeFromAckedPacketsSentOnce) {
  Fabric f;
  f.connect();
  SpyPolicy::Log log;
  f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, cc::kUnpaced, cc::kUnlimitedWindow));
  Buffer src = f.a().reg(4096), dst = f.b().reg(4096);
  post_write(f, src, dst, 1000);
  f.pump(0);
  f.advance(7'000);  // one way
  f.deliver_all();
  f.pump(1);  // B's ACK
  f.advance(5'000);  // the other way
  f.deliver_all();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  EXPECT_EQ(log.rtt_samples, 1u);
  EXPECT_EQ(log.last_rtt_ns, 12'000u);
  EXPECT_EQ(f.a().qp->info().last_rtt_ns, 12'000u);

  // A packet that had to be sent again gives no sample (Karn).
  post_write(f, src, dst, 1000, 2);
  f.pump(0);
  f.wire().clear();  // lost
  f.advance(100'000'000);
  f.pump(0);  // the retransmit timer fires: resent
  ASSERT_EQ(f.wire().size(), 1u);
  f.deliver_all();
  f.pump(1);
  f.deliver_all();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  EXPECT_EQ(log.rtt_samples, 1u);
  EXPECT_EQ(log.timeouts, 1u);
}

TEST(Congestion, ASequenceNakIsALoss) {
  Fabric f;
  f.connect();
  SpyPolicy::Log log;
  f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, cc::kUnpaced, cc::kUnlimitedWindow));
  Buffer src = f.a().reg(8192), dst = f.b().reg(8192);
  int n = 0;
  f.set_tx_filter([&](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcWriteMiddle && n++ == 0; });
  post_write(f, src, dst, 8192);
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  EXPECT_EQ(log.losses, 1u);
  EXPECT_EQ(f.a().qp->info().stats.naks_received_psn_sequence, 1u);
}

TEST(Congestion, APacerSlowerThanTheAckTimeoutUsesUpNoRetries) {
  // 1 Mb/s: a 1 KiB packet every ~8 ms, against a 1 ms local ACK timeout
  // (timeout 8, raised to the 1 ms floor) and retry_cnt 1. The timer times
  // packets in flight, not the pacer's waits, so neither the message nor a
  // loss in it (one retry) fails the QP.
  QpOptions o;
  o.timeout = 8;
  o.retry_cnt = 1;
  Fabric f(o, o);
  f.connect();
  SpyPolicy::Log log;
  f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, 1'000'000, cc::kUnlimitedWindow));
  Buffer src = f.a().reg(16 * 1024), dst = f.b().reg(16 * 1024);
  fill_pattern(src.data, src.size, 23);
  int middles = 0;
  f.set_tx_filter([&](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcWriteMiddle && ++middles == 5; });
  post_write(f, src, dst, 16 * 1024);
  f.run();
  auto c = f.a().send_cqes();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(std::memcmp(dst.data, src.data, src.size), 0);
  EXPECT_GT(f.a().counters().retransmitted_packets.get(), 0u);
}

TEST(Congestion, ALiveQpSwitchesPolicyAndParameters) {
  Fabric f;
  f.connect();
  Buffer src = f.a().reg(1 << 20), dst = f.b().reg(1 << 20);
  // Unpaced first: a megabyte goes in no simulated time.
  post_write(f, src, dst, 1 << 20);
  uint64_t t0 = f.now();
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  EXPECT_EQ(f.now(), t0);
  // Paced at 1 Gb/s from now on.
  SpyPolicy::Log log;
  ASSERT_TRUE(f.a().qp->set_congestion_control(std::make_unique<SpyPolicy>(log, 1'000'000'000, cc::kUnlimitedWindow)));
  post_write(f, src, dst, 1 << 20, 2);
  t0 = f.now();
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  const uint64_t at_1g = f.now() - t0;
  EXPECT_GT(at_1g, 8'000'000u);
  // A parameter of the live policy: twice the rate, half the time.
  EXPECT_EQ(f.a().qp->set_congestion_params("rate_bps=2e9"), std::nullopt);
  EXPECT_EQ(f.a().qp->info().cc_rate_bps, 2'000'000'000u);
  post_write(f, src, dst, 1 << 20, 3);
  t0 = f.now();
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  EXPECT_NEAR(double(f.now() - t0), double(at_1g) / 2, double(at_1g) * 0.03);
  // A refused parameter says why and changes nothing.
  auto err = f.a().qp->set_congestion_params("bogus=1");
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("bogus"), std::string::npos);
  // Back to none: unpaced again.
  ASSERT_TRUE(f.a().qp->set_congestion_control(nullptr));
  EXPECT_EQ(f.a().qp->info().cc, "");
  EXPECT_EQ(f.a().qp->info().cc_rate_bps, cc::kUnpaced);
  EXPECT_TRUE(f.a().qp->set_congestion_params("rate_bps=1").has_value());
}

TEST(Congestion, RegistryPoliciesRunTheTransportToCompletion) {
  // Each built-in policy moves a megabyte correctly, with and without loss.
  for (const char* spec : {"none", "dcqcn,line_rate_bps=10e9", "swift"}) {
    for (double loss : {0.0, 0.02}) {
      SCOPED_TRACE(std::string(spec) + " loss " + std::to_string(loss));
      Fabric f({}, {}, 11);
      f.connect();
      f.a().qp->set_congestion_control(cc::PolicyRegistry::with_builtins().create(spec));
      f.set_faults({loss, 0, 0});
      const uint32_t size = 1 << 20;
      Buffer src = f.a().reg(size), dst = f.b().reg(size);
      fill_pattern(src.data, size, 17);
      post_write(f, src, dst, size);
      f.run();
      auto c = f.a().send_cqes();
      ASSERT_EQ(c.size(), 1u);
      EXPECT_EQ(c[0].status, IBV_WC_SUCCESS);
      EXPECT_EQ(std::memcmp(dst.data, src.data, size), 0);
    }
  }
}

}  // namespace
}  // namespace flexins::transport::test
