// The fault injector over a real UDP backend: the same seed gives the same
// faults, and loss/dup/reorder happen at about the rates asked for.
#include "io/fault_injector.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <stdexcept>

#include "io/udp_backend.h"
#include "test_util.h"

namespace flexins::io {
namespace {

using testing::drain;
using testing::ip;

constexpr uint16_t kPort = 24792;

TEST(FaultSpec, ParsesAnySubsetAndRejectsNonsense) {
  FaultSpec s = parse_fault_spec("loss=0.01,reorder=0.02,dup=0.03,ecn=0.5,seed=7");
  EXPECT_DOUBLE_EQ(s.ecn, 0.5);
  EXPECT_TRUE(parse_fault_spec("ecn=0.1").any());
  EXPECT_DOUBLE_EQ(s.loss, 0.01);
  EXPECT_DOUBLE_EQ(s.reorder, 0.02);
  EXPECT_DOUBLE_EQ(s.dup, 0.03);
  EXPECT_EQ(s.seed, 7u);
  EXPECT_TRUE(s.any());
  EXPECT_FALSE(parse_fault_spec("seed=3").any());
  EXPECT_THROW(parse_fault_spec("loss=2"), std::invalid_argument);
  EXPECT_THROW(parse_fault_spec("loss=abc"), std::invalid_argument);
  EXPECT_THROW(parse_fault_spec("jitter=0.1"), std::invalid_argument);
  EXPECT_THROW(parse_fault_spec("loss"), std::invalid_argument);
}


TEST(FaultInjector, SameSeedSameFaultsAndRoughRates) {
  UdpBackend rx(ip("127.0.0.47"), kPort);
  auto send_all = [&](uint64_t seed) {
    FaultSpec spec;
    spec.loss = 0.1;
    spec.dup = 0.1;
    spec.reorder = 0.1;
    spec.seed = seed;
    FaultInjector tx(std::make_unique<UdpBackend>(ip("127.0.0.46"), kPort), spec);
    std::vector<uint32_t> got;
    for (uint32_t i = 0; i < 2000; ++i) {
      std::vector<uint8_t> bytes(4);
      std::memcpy(bytes.data(), &i, 4);
      TxDatagram d = testing::datagram(ip("127.0.0.47"), tx.src_ports()[0], bytes);
      d.dst_port = kPort;
      tx.tx_burst({&d, 1});
      if (i % 64 == 63)
        for (auto& v : drain(rx, 0)) got.push_back(*reinterpret_cast<const uint32_t*>(v.data()));
    }
    tx.tick(0);
    for (auto& v : drain(rx, 100)) got.push_back(*reinterpret_cast<const uint32_t*>(v.data()));
    return std::make_pair(got, std::array<uint64_t, 3>{tx.counters().dropped.load(), tx.counters().duplicated.load(),
                                                       tx.counters().reordered.load()});
  };
  auto [a, ca] = send_all(5);
  auto [b, cb] = send_all(5);
  auto [c, cc] = send_all(6);
  EXPECT_EQ(a, b) << "the same seed must give the same packet sequence";
  EXPECT_EQ(ca, cb);
  EXPECT_NE(a, c);
  for (uint64_t v : ca) {
    EXPECT_GT(v, 120u);  // ~10 % of 2000, loosely
    EXPECT_LT(v, 300u);
  }
  EXPECT_EQ(a.size(), 2000 - ca[0] + ca[1]);
  bool out_of_order = false;
  for (size_t i = 1; i < a.size(); ++i) out_of_order |= a[i] < a[i - 1];
  EXPECT_TRUE(out_of_order);
}

TEST(FaultInjector, MarksAboutTheGivenShareCeAndTheReceiverSeesIt) {
  UdpBackend rx(ip("127.0.0.52"), kPort);
  FaultSpec spec;
  spec.ecn = 0.25;
  FaultInjector tx(std::make_unique<UdpBackend>(ip("127.0.0.51"), kPort), spec);
  uint32_t ce = 0, total = 0;
  std::vector<uint8_t> buf(64 * 16);
  for (uint32_t i = 0; i < 400; ++i) {
    std::vector<uint8_t> bytes(8, uint8_t(i));
    TxDatagram d = testing::datagram(ip("127.0.0.52"), tx.src_ports()[0], bytes);
    d.dst_port = kPort;
    tx.tx_burst({&d, 1});
    for (;;) {
      pollfd p{rx.rx_fd(), POLLIN, 0};
      if (poll(&p, 1, i == 399 ? 200 : 0) <= 0) break;
      RxDatagram r[16];
      for (int k = 0; k < 16; ++k) {
        r[k].data = buf.data() + 64 * k;
        r[k].capacity = 64;
      }
      const uint32_t n = rx.rx_burst(r);
      for (uint32_t k = 0; k < n; ++k) {
        ++total;
        ce += r[k].ecn == 3 ? 1 : 0;
      }
    }
  }
  EXPECT_EQ(total, 400u);
  EXPECT_EQ(ce, tx.counters().ecn_marked.load());
  EXPECT_GT(ce, 60u);  // ~25 % of 400, loosely
  EXPECT_LT(ce, 140u);
}

}  // namespace
}  // namespace flexins::io
