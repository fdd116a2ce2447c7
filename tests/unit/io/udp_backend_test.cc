// The UDP backend over real loopback sockets: gather lists go out as one
// datagram each, and the receiver learns both addresses and the source port.
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

TEST(UdpBackend, SecondBindOfTheSameAddressFails) {
  UdpBackend a(ip("127.0.0.45"), kPort);
  EXPECT_THROW(UdpBackend(ip("127.0.0.45"), kPort), std::system_error);
}

}  // namespace
}  // namespace flexins::io
