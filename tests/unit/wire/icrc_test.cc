// ICRC against an independent computation (zlib's crc32 over a pseudo-header
// assembled here byte by byte from IBA annex A17.3.3) and against published
// packets.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "test_packets.h"
#include "wire/icrc.h"
#include "wire/packet.h"

namespace flexins::wire {
namespace {

using Bytes = std::vector<uint8_t>;

// Reference ICRC of a UDP payload (BTH … ICRC), written straight from the
// annex: 8×0xFF | IPv4 with TOS, TTL, checksum = 1s | UDP with checksum = 1s
// | BTH with byte 4 = 1s | the rest, up to the ICRC.
uint32_t reference_icrc(const IcrcIpInfo& ip, const Bytes& udp_payload) {
  const size_t udp_len = 8 + udp_payload.size();
  const size_t ip_len = 20 + udp_len;
  uint8_t src[4], dst[4];
  std::memcpy(src, &ip.src_ip, 4);
  std::memcpy(dst, &ip.dst_ip, 4);
  Bytes m(8, 0xff);
  const uint8_t ipv4[20] = {0x45, 0xff, uint8_t(ip_len >> 8), uint8_t(ip_len),
                            uint8_t(ip.ip_id >> 8), uint8_t(ip.ip_id),
                            uint8_t(ip.ip_flags_frag >> 8), uint8_t(ip.ip_flags_frag),
                            0xff, 17, 0xff, 0xff,
                            src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3]};
  m.insert(m.end(), ipv4, ipv4 + 20);
  const uint8_t udp[8] = {uint8_t(ip.src_port >> 8), uint8_t(ip.src_port),
                          uint8_t(ip.dst_port >> 8), uint8_t(ip.dst_port),
                          uint8_t(udp_len >> 8), uint8_t(udp_len), 0xff, 0xff};
  m.insert(m.end(), udp, udp + 8);
  m.insert(m.end(), udp_payload.begin(), udp_payload.end() - 4);
  m[8 + 20 + 8 + 4] = 0xff;  // BTH byte 4: FECN, BECN, resv6
  return uint32_t(crc32(0, m.data(), uInt(m.size())));
}

IcrcIpInfo random_ip(std::mt19937_64& rng) {
  IcrcIpInfo ip;
  ip.src_ip = uint32_t(rng());
  ip.dst_ip = uint32_t(rng());
  ip.src_port = uint16_t(rng());
  ip.ip_id = uint16_t(rng());
  ip.ip_flags_frag = (rng() & 1) ? 0x4000 : 0;
  return ip;
}

Bytes random_udp_payload(std::mt19937_64& rng) {
  uint8_t op;
  do op = uint8_t(rng()); while (!opcode_valid(op));
  Packet p = test::random_packet(rng, op);
  const size_t payload = (opcode_info(op).flags & kOpPayload) ? rng() % 300 : 0;
  return test::assemble(p, test::random_bytes(rng, payload));
}

uint32_t icrc_of(const IcrcIpInfo& ip, const Bytes& udp_payload) {
  const iovec all{const_cast<uint8_t*>(udp_payload.data()), udp_payload.size() - kIcrcSize};
  return icrc_compute(ip, {&all, 1});
}

TEST(Icrc, AgreesWithZlibReference) {
  std::mt19937_64 rng(4791);
  for (int i = 0; i < 2000; ++i) {
    const IcrcIpInfo ip = random_ip(rng);
    const Bytes b = random_udp_payload(rng);
    ASSERT_EQ(icrc_of(ip, b), reference_icrc(ip, b)) << i;
  }
}

TEST(Icrc, StoredLittleEndian) {
  uint8_t out[4];
  icrc_store(0x11223344, out);
  EXPECT_EQ(out[0], 0x44);
  EXPECT_EQ(out[3], 0x11);
  EXPECT_EQ(icrc_load(out), 0x11223344u);
}

TEST(Icrc, CheckAcceptsGoodAndRejectsEveryBitFlip) {
  std::mt19937_64 rng(7);
  const IcrcIpInfo ip = random_ip(rng);
  Packet p = test::random_packet(rng, kRcWriteFirst);
  Bytes b = test::assemble_with_icrc(p, test::random_bytes(rng, 21), ip);
  ASSERT_TRUE(icrc_check(ip, b));
  for (size_t bit = 0; bit < b.size() * 8; ++bit) {
    b[bit / 8] ^= uint8_t(1 << (bit % 8));
    // BTH byte 4 (FECN, BECN, resv6) is masked: switches may set FECN/BECN.
    EXPECT_EQ(icrc_check(ip, b), bit / 8 == 4) << "bit " << bit;
    b[bit / 8] ^= uint8_t(1 << (bit % 8));
  }
}

TEST(Icrc, CoversAddressesPortsAndIpId) {
  std::mt19937_64 rng(8);
  const IcrcIpInfo ip = random_ip(rng);
  Packet p = test::random_packet(rng, kRcSendOnly);
  const Bytes b = test::assemble_with_icrc(p, test::random_bytes(rng, 8), ip);
  ASSERT_TRUE(icrc_check(ip, b));
  IcrcIpInfo other = ip;
  other.src_ip ^= 1;
  EXPECT_FALSE(icrc_check(other, b));
  other = ip;
  other.dst_ip ^= 0x100;
  EXPECT_FALSE(icrc_check(other, b));
  other = ip;
  other.src_port ^= 1;
  EXPECT_FALSE(icrc_check(other, b));
  other = ip;
  other.dst_port ^= 1;
  EXPECT_FALSE(icrc_check(other, b));
  other = ip;
  other.ip_id ^= 1;
  EXPECT_FALSE(icrc_check(other, b));
  other = ip;
  other.ip_flags_frag ^= 0x4000;
  EXPECT_FALSE(icrc_check(other, b));
}

TEST(Icrc, TooShortIsRejected) {
  const IcrcIpInfo ip;
  for (size_t n = 0; n < 16; ++n) EXPECT_FALSE(icrc_check(ip, Bytes(n, 0))) << n;
}

TEST(Icrc, ChainingOverPartsEqualsContiguous) {
  std::mt19937_64 rng(9);
  for (int i = 0; i < 500; ++i) {
    const IcrcIpInfo ip = random_ip(rng);
    const Bytes b = random_udp_payload(rng);
    const size_t covered = b.size() - kIcrcSize;
    // Cut points: the first part holds at least the BTH; parts may be empty.
    std::vector<size_t> cuts = {0, 12 + rng() % (covered - 11)};
    for (int k = 0, n = int(rng() % 4); k < n; ++k) cuts.push_back(cuts[1] + rng() % (covered - cuts[1] + 1));
    cuts.push_back(covered);
    std::sort(cuts.begin(), cuts.end());
    std::vector<iovec> parts;
    for (size_t k = 0; k + 1 < cuts.size(); ++k)
      parts.push_back({const_cast<uint8_t*>(b.data()) + cuts[k], cuts[k + 1] - cuts[k]});
    ASSERT_EQ(icrc_compute(ip, parts), icrc_of(ip, b)) << i;
  }
}

// Known answer from real hardware: a CNP captured on a Mellanox ConnectX-4 Lx,
// published as the test "RoCE CNP captured on ConnectX-4 Lx" in scapy's
// test/contrib/roce.uts (github.com/secdev/scapy). Ethernet | IPv4 | UDP |
// BTH (0x81, BECN) | 16 reserved | ICRC 82 fd 00 2a.
const Bytes kConnectX4LxCnpFrame = {
    0xe4, 0x1d, 0x2d, 0xab, 0x2b, 0xc2, 0x7c, 0xfe, 0x90, 0x64, 0x3b, 0x32, 0x08, 0x00, 0x45, 0xc2,
    0x00, 0x3c, 0x71, 0x8c, 0x40, 0x00, 0x40, 0x11, 0x91, 0x61, 0x0a, 0x00, 0x11, 0x01, 0x0a, 0x00,
    0x12, 0x01, 0x00, 0x00, 0x12, 0xb7, 0x00, 0x28, 0x00, 0x00, 0x81, 0x00, 0xff, 0xff, 0x40, 0x00,
    0x01, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82, 0xfd, 0x00, 0x2a};

TEST(IcrcKnownAnswer, ConnectX4LxCnp) {
  const Bytes& f = kConnectX4LxCnpFrame;
  const uint8_t* iph = f.data() + 14;
  const uint8_t* udph = iph + 20;
  IcrcIpInfo ip;
  ip.ip_id = uint16_t(iph[4] << 8 | iph[5]);
  ip.ip_flags_frag = uint16_t(iph[6] << 8 | iph[7]);
  std::memcpy(&ip.src_ip, iph + 12, 4);
  std::memcpy(&ip.dst_ip, iph + 16, 4);
  ip.src_port = uint16_t(udph[0] << 8 | udph[1]);
  ip.dst_port = uint16_t(udph[2] << 8 | udph[3]);
  ASSERT_EQ(ip.src_ip, inet_addr("10.0.17.1"));
  ASSERT_EQ(ip.dst_port, kRoceV2Port);
  const Bytes udp_payload(f.begin() + 42, f.end());

  EXPECT_TRUE(icrc_check(ip, udp_payload));
  EXPECT_EQ(icrc_of(ip, udp_payload), 0x2a00fd82u);

  Packet p;
  ASSERT_EQ(parse(udp_payload, p), ParseError::kOk);
  EXPECT_EQ(p.bth.opcode, kCnp);
  EXPECT_TRUE(p.bth.becn);
  EXPECT_FALSE(p.bth.fecn);
  EXPECT_FALSE(p.bth.mig_req);
  EXPECT_EQ(p.bth.pkey, 0xffff);
  EXPECT_EQ(p.bth.dest_qp, 0x118u);
  EXPECT_EQ(p.bth.psn, 0u);

  // And our own CNP for the same QP is byte for byte the card's.
  Packet cnp;
  cnp.bth.opcode = kCnp;
  cnp.bth.mig_req = false;
  cnp.bth.becn = true;
  cnp.bth.dest_qp = 0x118;
  EXPECT_EQ(test::assemble_with_icrc(cnp, {}, ip), udp_payload);
}

// Second known answer, computed by scapy's RoCE layer (not hardware) and
// published in the same file ("RoCE layer" test: UC SEND Only, pad 2, ICRC
// shown as 0x78f353f3, i.e. bytes 78 f3 53 f3).
TEST(IcrcKnownAnswer, ScapyUcSendOnly) {
  IcrcIpInfo ip;
  ip.src_ip = ip.dst_ip = inet_addr("192.168.0.7");
  ip.src_port = 49152;
  ip.ip_id = 1144;
  ip.ip_flags_frag = 0x4000;
  Packet p;
  p.bth.opcode = kUcSendOnly;
  p.bth.mig_req = true;
  p.bth.dest_qp = 211;
  p.bth.psn = 13571856;
  const Bytes payload = {0x46, 0x30, 0x81, 0x8b, 0xe2, 0x89, 0x35, 0xd9, 0x0e,
                         0x9a, 0x95, 0x50, 0x54, 0x01, 0xbe, 0x88, 0x5e, 0x50};
  const Bytes b = test::assemble_with_icrc(p, payload, ip);
  ASSERT_EQ(b.size(), 44u - 8u);  // scapy's UDP length 44
  EXPECT_EQ(Bytes(b.end() - 4, b.end()), (Bytes{0x78, 0xf3, 0x53, 0xf3}));
}

}  // namespace
}  // namespace flexins::wire
