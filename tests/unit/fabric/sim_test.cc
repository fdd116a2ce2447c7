// The simulator around the real transport: a message takes exactly the
// time the links model; ECN marks and CNPs reach the destination QP.
#include "fabric/sim.h"

#include <gtest/gtest.h>

#include "fabric/flow.h"
#include "fabric/packet_bytes.h"
#include "fabric/sim_host.h"
#include "wire/opcodes.h"

namespace flexins::fabric {
namespace {

FabricConfig two_hosts_10g() {
  FabricConfig f;
  f.hosts = 2;
  f.host_rate_bps = 10'000'000'000;
  f.port.rate_bps = 10'000'000'000;
  f.port.propagation_ns = 1000;
  f.host_jitter_ns = 0;
  return f;
}

uint64_t ser_10g(uint64_t wire_bytes) { return (wire_bytes * 8 + 9) / 10; }  // ns, rounded up

TEST(Sim, OneWriteTakesTheModelledRoundTrip) {
  Sim sim(two_hosts_10g());
  FlowSpec s;
  s.sender = 0;
  s.receiver = 1;
  s.msg_bytes = 1000;
  s.depth = 1;
  s.stop_ns = 1;  // one message, posted at 0
  BwFlow flow(sim, 0, s);
  uint64_t done = 0;
  flow.on_complete = [&](uint64_t now, uint32_t) { done = now; };
  sim.run_until(1'000'000);
  ASSERT_EQ(flow.completed, 1u);
  EXPECT_EQ(flow.verified_bytes, 1000u);
  // WRITE ONLY: BTH 12 + RETH 16 + 1000 + ICRC 4, plus Ethernet/IP/UDP.
  const uint64_t data = 12 + 16 + 1000 + 4 + kEthernetIpUdpOverheadBytes;
  // ACK: BTH 12 + AETH 4 + ICRC 4.
  const uint64_t ack = 12 + 4 + 4 + kEthernetIpUdpOverheadBytes;
  // Each way: the NIC, a link, the switch port, a link (store and forward);
  // the engine passes take no time.
  EXPECT_EQ(done, 2 * ser_10g(data) + 2 * ser_10g(ack) + 4 * 1000);
  EXPECT_TRUE(flow.finished());
}

TEST(Sim, MarkedPacketsArriveWithCeAndTheRestWithEct0) {
  FabricConfig f = two_hosts_10g();
  f.hosts = 5;
  f.port.kmin_bytes = 0;  // mark whatever finds a queue
  f.port.kmax_bytes = 0;
  f.port.pmax = 1;
  Sim sim(f);
  std::vector<std::unique_ptr<BwFlow>> flows;
  for (uint32_t i = 0; i < 4; ++i) {
    FlowSpec s;
    s.sender = i;
    s.receiver = 4;
    s.msg_bytes = 16384;
    s.depth = 4;
    s.stop_ns = 200'000;
    flows.push_back(std::make_unique<BwFlow>(sim, i, s));
  }
  uint64_t ce = 0, ect0 = 0, other = 0;
  for (uint32_t h = 0; h < 5; ++h)
    sim.host(h).rx_tap = [&](const wire::Packet&, const transport::RxMeta& m) {
      (m.ecn == 3 ? ce : m.ecn == 2 ? ect0 : other)++;
    };
  sim.run_until(10'000'000);
  uint64_t marks = 0;
  for (uint32_t h = 0; h < 5; ++h) marks += sim.port_to(h).counters().marked_packets;
  EXPECT_GT(marks, 100u);  // four senders into one port: a queue
  EXPECT_EQ(ce, marks);
  EXPECT_GT(ect0, 0u);
  EXPECT_EQ(other, 0u);
  for (auto& fl : flows) EXPECT_TRUE(fl->finished());
}

TEST(Sim, ACnpReachesItsDestinationQp) {
  Sim sim(two_hosts_10g());
  FlowSpec s;
  s.stop_ns = 0;  // connected QPs, no traffic
  BwFlow flow(sim, 0, s);
  std::vector<std::pair<uint8_t, uint32_t>> seen;  // (opcode, dest QP)
  sim.host(0).rx_tap = [&](const wire::Packet& p, const transport::RxMeta&) {
    seen.emplace_back(p.bth.opcode, p.bth.dest_qp);
  };
  // Host 1 sends a CNP (RoCEv2 annex A17: BTH opcode 0x81 + 16 reserved
  // bytes) to host 0's first QP, as a notification point would.
  const uint32_t qpn = 0x1000u + 0x11;  // host 0's first QPN (sim_host.cc)
  wire::Packet p;
  p.bth.opcode = wire::kCnp;
  p.bth.dest_qp = qpn;
  p.bth.pkey = 0xffff;
  transport::OutPacket out;
  out.hdr_len = uint8_t(wire::build(p, out.hdr));
  out.dst_ip = sim.host(0).ip();
  out.src_port = 50000;
  sim.host(1).transmit(out);
  sim.host(1).flush();
  sim.run_until(1'000'000);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, wire::kCnp);
  EXPECT_EQ(seen[0].second, qpn);
  EXPECT_EQ(sim.host(0).counters().rx_drop_unknown_qp.get(), 0u);
}

}  // namespace
}  // namespace flexins::fabric
