// The UDP backend over real loopback sockets: gather lists go out as one
// datagram each, and the receiver learns both addresses and the source port;
// a GSO group arrives as one GRO buffer with its segment size.
#include "io/udp_backend.h"

#include <gtest/gtest.h>

#include <system_error>

#include "test_util.h"

namespace flexins::io {
namespace {

using testing::datagram;
using testing::drain;
using testing::ip;

constexpr uint16_t kPort = 24791;  // not 4791: tests may run beside an engine

TEST(UdpBackend, GatherListArrivesAsOneDatagramWithAddresses) {
  UdpBackend a(ip("127.0.0.41"), kPort), b(ip("127.0.0.42"), kPort);
  ASSERT_FALSE(a.src_ports().empty());
  std::vector<uint8_t> head{1, 2, 3}, body{4, 5, 6, 7};
  TxDatagram d;
  d.dst_ip = ip("127.0.0.42");
  d.dst_port = kPort;
  d.src_port = a.src_ports()[0];
  d.iov_count = 2;
  d.iov[0] = {head.data(), head.size()};
  d.iov[1] = {body.data(), body.size()};
  d.length = 7;
  ASSERT_EQ(a.tx_burst({&d, 1}), 1u);

  pollfd p{b.rx_fd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  std::vector<uint8_t> buf(100);
  RxDatagram r;
  r.data = buf.data();
  r.capacity = 100;
  ASSERT_EQ(b.rx_burst({&r, 1}), 1u);
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + r.length), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(r.src_ip, ip("127.0.0.41"));
  EXPECT_EQ(r.dst_ip, ip("127.0.0.42"));
  EXPECT_EQ(r.src_port, a.src_ports()[0]);
  EXPECT_FALSE(r.truncated);
}

TEST(UdpBackend, DatagramsLeaveEcnCapableAndMarkedOnesArriveCe) {
  UdpBackend a(ip("127.0.0.49"), kPort), b(ip("127.0.0.50"), kPort);
  std::vector<uint8_t> bytes{1, 2, 3, 4};
  TxDatagram d[2] = {datagram(ip("127.0.0.50"), a.src_ports()[0], bytes),
                     datagram(ip("127.0.0.50"), a.src_ports()[0], bytes)};
  d[0].dst_port = d[1].dst_port = kPort;
  d[1].ecn_ce = true;
  ASSERT_EQ(a.tx_burst(d), 2u);
  std::vector<uint8_t> buf(200);
  RxDatagram r[2];
  for (int i = 0; i < 2; ++i) {
    r[i].data = buf.data() + 100 * i;
    r[i].capacity = 100;
  }
  uint32_t got = 0;
  for (int tries = 0; tries < 20 && got < 2; ++tries) {
    pollfd p{b.rx_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 2000), 1);
    got += b.rx_burst({r + got, 2 - got});
  }
  ASSERT_EQ(got, 2u);
  EXPECT_EQ(r[0].ecn, 2);  // ECT(0)
  EXPECT_EQ(r[1].ecn, 3);  // CE
  EXPECT_EQ(r[1].length, 4u);
}

TEST(UdpBackend, TruncationIsReported) {
  UdpBackend a(ip("127.0.0.43"), kPort), b(ip("127.0.0.44"), kPort);
  std::vector<uint8_t> big(500, 0xab);
  TxDatagram d = datagram(ip("127.0.0.44"), a.src_ports()[0], big);
  d.dst_port = kPort;
  a.tx_burst({&d, 1});
  pollfd p{b.rx_fd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  std::vector<uint8_t> buf(100);
  RxDatagram r;
  r.data = buf.data();
  r.capacity = 100;
  ASSERT_EQ(b.rx_burst({&r, 1}), 1u);
  EXPECT_TRUE(r.truncated);
}

// A GSO group of 4 full datagrams and a shorter last one, sent in one call.
std::vector<std::vector<uint8_t>> group_payloads() {
  std::vector<std::vector<uint8_t>> p;
  for (uint8_t i = 0; i < 5; ++i) p.emplace_back(i < 4 ? 100 : 40, uint8_t(0x10 + i));
  return p;
}

std::vector<TxDatagram> group_of(std::vector<std::vector<uint8_t>>& payloads, uint32_t dst, uint16_t src) {
  std::vector<TxDatagram> g;
  for (auto& bytes : payloads) {
    g.push_back(datagram(dst, src, bytes));
    g.back().dst_port = kPort;
    g.back().gso_continues = g.size() > 1;
  }
  return g;
}

// Receives everything within 2 s into 64 KiB buffers, keeping the GRO info.
std::vector<std::pair<std::vector<uint8_t>, uint32_t>> receive_all(Backend& b) {
  std::vector<std::pair<std::vector<uint8_t>, uint32_t>> got;
  std::vector<uint8_t> buf(65536);
  pollfd p{b.rx_fd(), POLLIN, 0};
  while (poll(&p, 1, got.empty() ? 2000 : 100) == 1) {
    RxDatagram r;
    r.data = buf.data();
    r.capacity = uint32_t(buf.size());
    if (b.rx_burst({&r, 1}) != 1) break;
    got.emplace_back(std::vector<uint8_t>(buf.begin(), buf.begin() + r.length), r.segment_size);
  }
  return got;
}

TEST(UdpBackend, GsoGroupCrossesLoopbackWholeAndGroOnlyMarksIt) {
  UdpBackend a(ip("127.0.0.46"), kPort), b(ip("127.0.0.47"), kPort);
  ASSERT_EQ(a.max_gso_segments(), kMaxGsoSegments) << "this kernel has no UDP GSO/GRO";
  auto payloads = group_payloads();
  auto group = group_of(payloads, ip("127.0.0.47"), a.src_ports()[0]);
  ASSERT_EQ(a.tx_burst(group), 5u);
  auto got = receive_all(b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, 100u);
  std::vector<uint8_t> want;
  for (auto& p : payloads) want.insert(want.end(), p.begin(), p.end());
  EXPECT_EQ(got[0].first, want);
}

TEST(UdpBackend, WithoutOffloadEveryDatagramTravelsAlone) {
  UdpBackend a(ip("127.0.0.48"), kPort, 4, false), b(ip("127.0.0.49"), kPort, 4, false);
  EXPECT_EQ(a.max_gso_segments(), 1u);
  auto payloads = group_payloads();
  auto singles = group_of(payloads, ip("127.0.0.49"), a.src_ports()[0]);
  for (auto& d : singles) d.gso_continues = false;
  ASSERT_EQ(a.tx_burst(singles), 5u);
  auto got = receive_all(b);
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, payloads[i]);
    EXPECT_EQ(got[i].second, 0u);
  }
}

TEST(UdpBackend, SecondBindOfTheSameAddressFails) {
  UdpBackend a(ip("127.0.0.45"), kPort);
  EXPECT_THROW(UdpBackend(ip("127.0.0.45"), kPort), std::system_error);
}

}  // namespace
}  // namespace flexins::io
