// FlexiNS selective repeat on the wire: the SR bit in the BTH's Resv7, and
// the SACK block an Acknowledge carrying that bit may have (wire/sack.h):
// bytes written out by hand, round trips, and what parse() refuses.
#include "wire/sack.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>

#include <random>
#include <vector>

#include "test_packets.h"
#include "wire/icrc.h"
#include "wire/packet.h"

namespace flexins::wire {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bth_bytes(const Packet& p) {
  Bytes b(kMaxTransportHeaders);
  b.resize(build(p, b.data()));
  return b;
}

TEST(SrBit, IsTheTopBitOfResv7) {
  Packet p;
  p.bth.opcode = kRcWriteOnly;
  p.bth.psn = 0x123456;
  p.bth.sr = true;
  Bytes b = bth_bytes(p);
  EXPECT_EQ(b[8], 0x40) << "byte 8: A(1) then Resv7; SR is Resv7's top bit";
  p.bth.ack_req = true;
  b = bth_bytes(p);
  EXPECT_EQ(b[8], 0xc0);
  EXPECT_EQ(b[9], 0x12);  // the PSN is untouched
  EXPECT_EQ(b[11], 0x56);

  Packet got;
  b.resize(b.size() + 4, 0);  // a zero-length WRITE Only, ICRC placeholder
  ASSERT_EQ(parse(b, got), ParseError::kOk);
  EXPECT_TRUE(got.bth.sr);
  EXPECT_TRUE(got.bth.ack_req);
  EXPECT_EQ(got.bth.psn, 0x123456u);
  // The other reserved bits stay ignored on receive (IBA), and 0 on send.
  b[8] = 0x80 | 0x3f;
  ASSERT_EQ(parse(b, got), ParseError::kOk);
  EXPECT_FALSE(got.bth.sr);
  EXPECT_TRUE(got.bth.ack_req);
}

TEST(SrBit, IsCoveredByTheIcrc) {
  // Only BTH byte 4 (FECN, BECN, resv6) is masked (annex A17.3.3): a bit
  // flipped in flight in byte 8 must fail the check.
  std::mt19937_64 rng(7);
  Packet p = test::random_packet(rng, kRcWriteOnly);
  p.bth.sr = false;
  IcrcIpInfo ip;
  ip.src_ip = htonl(0x0a000001);
  ip.dst_ip = htonl(0x0a000002);
  ip.src_port = 50000;
  Bytes b = test::assemble_with_icrc(p, test::random_bytes(rng, 64), ip);
  ASSERT_TRUE(icrc_check(ip, b));
  b[8] ^= 0x40;
  EXPECT_FALSE(icrc_check(ip, b));
}

TEST(SackBlock, BytesAsDrawnInSackH) {
  SackBlock s;
  s.first_psn = 0x123457;
  s.bits = 40;
  s.set(0);
  s.set(3);
  s.set(39);
  s.set(40);  // outside the count: ignored
  EXPECT_TRUE(s.test(3));
  EXPECT_FALSE(s.test(1));
  EXPECT_FALSE(s.test(40));
  ASSERT_EQ(s.size(), 8u + 8u);  // 40 bits: two 32-bit words
  Bytes out(kMaxSackBytes, 0xa5);
  ASSERT_EQ(build_sack(s, out.data()), 16u);
  out.resize(16);
  EXPECT_EQ(out, (Bytes{0x00, 0x12, 0x34, 0x57,  // reserved, first PSN
                        0x00, 0x28, 0x00, 0x00,  // bit count 40, reserved
                        0x90, 0x00, 0x00, 0x00,  // bits 0 and 3
                        0x01, 0x00, 0x00, 0x00}));  // bit 39; the rest of the word is 0
}

TEST(SackBlock, RoundTripsForEveryBitCount) {
  std::mt19937_64 rng(99);
  for (uint32_t bits = 0; bits <= kMaxSackBits; ++bits) {
    SackBlock s;
    s.first_psn = uint32_t(rng()) & kPsnMask;
    s.bits = uint16_t(bits);
    for (uint32_t i = 0; i < bits; ++i)
      if (rng() & 1) s.set(i);
    Bytes out(kMaxSackBytes);
    const size_t n = build_sack(s, out.data());
    ASSERT_EQ(n % 4, 0u);
    ASSERT_LE(n, kMaxSackBytes);
    SackBlock got;
    ASSERT_TRUE(parse_sack({out.data(), n}, got)) << bits;
    EXPECT_EQ(got.first_psn, s.first_psn);
    EXPECT_EQ(got.bits, s.bits);
    for (uint32_t i = 0; i < bits; ++i) ASSERT_EQ(got.test(i), s.test(i)) << bits << " bit " << i;
  }
}

TEST(SackBlock, ParseRefusesMalformedBlocks) {
  SackBlock s;
  s.first_psn = 5;
  s.bits = 33;
  Bytes out(kMaxSackBytes);
  const size_t n = build_sack(s, out.data());
  ASSERT_EQ(n, 16u);
  SackBlock got;
  EXPECT_FALSE(parse_sack({out.data(), 7}, got)) << "shorter than its header";
  EXPECT_FALSE(parse_sack({out.data(), 12}, got)) << "33 bits need two words";
  EXPECT_FALSE(parse_sack({out.data(), 20}, got)) << "a word more than the count";
  Bytes big(kMaxSackBytes + 4, 0);
  big[4] = 0x03;
  big[5] = 0xc4;  // 964 bits: more than a block holds
  EXPECT_FALSE(parse_sack(big, got));
  // Reserved bytes are ignored on receive.
  out[0] = 0xff;
  out[6] = out[7] = 0xff;
  ASSERT_TRUE(parse_sack({out.data(), n}, got));
  EXPECT_EQ(got.first_psn, 5u);
  EXPECT_EQ(got.bits, 33u);
}

// An Acknowledge (NAK, sequence error) with the SR bit and a block.
Bytes sack_packet(bool sr, size_t block_bytes, uint8_t pad = 0) {
  Packet p;
  p.bth.opcode = kRcAcknowledge;
  p.bth.psn = 0x00abcd;
  p.bth.sr = sr;
  p.bth.pad_count = pad;
  p.aeth = {make_syndrome(AckType::kNak, uint8_t(NakCode::kPsnSequenceError)), 7};
  Bytes b(kMaxTransportHeaders);
  b.resize(build(p, b.data()));
  for (size_t i = 0; i < block_bytes; ++i) b.push_back(uint8_t(i));
  b.insert(b.end(), kIcrcSize, 0);
  return b;
}

TEST(SackPacket, AnSrAcknowledgeCarriesTheBlockAsItsPayload) {
  SackBlock s;
  s.first_psn = 0x00abce;
  s.bits = 12;
  s.set(2);
  Packet p;
  p.bth.opcode = kRcAcknowledge;
  p.bth.psn = 0x00abcd;
  p.bth.sr = true;
  p.aeth = {make_syndrome(AckType::kNak, uint8_t(NakCode::kPsnSequenceError)), 7};
  Bytes b(kMaxHeadersWithSack);
  size_t n = build(p, b.data());
  ASSERT_EQ(n, 16u);
  n += build_sack(s, b.data() + n);
  b.resize(n + kIcrcSize, 0);
  Packet got;
  ASSERT_EQ(parse(b, got), ParseError::kOk);
  EXPECT_TRUE(got.bth.sr);
  EXPECT_EQ(got.payload, b.data() + 16);
  ASSERT_EQ(got.payload_len, 12u);
  SackBlock back;
  ASSERT_TRUE(parse_sack({got.payload, got.payload_len}, back));
  EXPECT_EQ(back.first_psn, 0x00abceu);
  EXPECT_TRUE(back.test(2));
  EXPECT_FALSE(back.test(1));
}

ParseError parse_of(const Bytes& b) {
  Packet p;
  return parse(b, p);
}

TEST(SackPacket, OnlyAnSrAcknowledgeMayCarryBytesAndOnlyWholeWordsUpTo128) {
  EXPECT_EQ(parse_of(sack_packet(true, 8)), ParseError::kOk);
  EXPECT_EQ(parse_of(sack_packet(true, kMaxSackBytes)), ParseError::kOk);
  EXPECT_EQ(parse_of(sack_packet(false, 8)), ParseError::kPayloadTooLong);
  EXPECT_EQ(parse_of(sack_packet(true, kMaxSackBytes + 4)),
            ParseError::kPayloadTooLong);
  EXPECT_EQ(parse_of(sack_packet(true, 10)), ParseError::kPayloadTooLong);
  EXPECT_EQ(parse_of(sack_packet(true, 8, 2)), ParseError::kBadPad);
  // An atomic ACK with the bit carries nothing more (its 8-byte
  // AtomicAckETH takes 8 of these 16 bytes; 8 are left over).
  Bytes b = sack_packet(true, 16);
  b[0] = kRcAtomicAcknowledge;
  EXPECT_EQ(parse_of(b), ParseError::kPayloadTooLong);
}

}  // namespace
}  // namespace flexins::wire
