// build() against byte arrays written out by hand from IBA vol 1 9.2–9.3,
// and build → parse round trips for every opcode.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "test_packets.h"
#include "wire/packet.h"

namespace flexins::wire {
namespace {

using Bytes = std::vector<uint8_t>;

// Builds p's headers into a buffer with a canary after them.
Bytes built(const Packet& p) {
  Bytes buf(kMaxTransportHeaders + 8, 0xa5);
  const size_t n = build(p, buf.data());
  EXPECT_EQ(n, header_size(p.bth.opcode));
  for (size_t i = n; i < buf.size(); ++i) EXPECT_EQ(buf[i], 0xa5) << "wrote past the headers at " << i;
  buf.resize(n);
  return buf;
}

Bth sample_bth(uint8_t opcode) {
  Bth b;
  b.opcode = opcode;
  b.solicited = true;
  b.mig_req = true;
  b.pad_count = 3;
  b.pkey = 0x1234;
  b.fecn = true;
  b.becn = false;
  b.dest_qp = 0xabcdef;
  b.ack_req = true;
  b.psn = 0x123456;
  return b;
}

// BTH as sample_bth() fills it, IBA 9.2 figure 62:
//   OpCode | SE M PadCnt(2) TVer(4) | P_Key(16) | F B resv6 | DestQP(24) | A resv7 | PSN(24)
Bytes sample_bth_bytes(uint8_t opcode) {
  return {opcode, 0xf0, 0x12, 0x34, 0x80, 0xab, 0xcd, 0xef, 0x80, 0x12, 0x34, 0x56};
}

Packet with_bth(const Bth& bth) {
  Packet p;
  p.bth = bth;
  return p;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(BuildBytes, Bth) {
  EXPECT_EQ(built(with_bth(sample_bth(kRcSendOnly))), sample_bth_bytes(kRcSendOnly));

  Packet p;
  p.bth.opcode = kRcSendMiddle;
  p.bth.mig_req = false;
  p.bth.pad_count = 1;
  p.bth.pkey = 0xffff;
  p.bth.becn = true;
  p.bth.dest_qp = 0x000001;
  p.bth.psn = 0xffffff;
  EXPECT_EQ(built(p), (Bytes{0x01, 0x10, 0xff, 0xff, 0x40, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff}));
}

TEST(BuildBytes, FieldsWiderThanTheWireAreMasked) {
  Packet p;
  p.bth.opcode = kUdSendOnly;
  p.bth.mig_req = false;
  p.bth.pkey = 0;
  p.bth.dest_qp = 0xff000002;  // 24-bit field
  p.bth.psn = 0x7f000003;
  p.bth.pad_count = 0xfc;  // 2-bit field: 0
  p.deth = {.qkey = 1, .src_qp = 0xee000004};
  EXPECT_EQ(built(p), (Bytes{0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
                             0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04}));
}

TEST(BuildBytes, Reth) {  // IBA 9.3.3: VA(64) R_Key(32) DMALen(32)
  Packet p = with_bth(sample_bth(kRcWriteOnly));
  p.reth = {.va = 0x0102030405060708, .rkey = 0xa1b2c3d4, .dma_length = 0x00010000};
  EXPECT_EQ(built(p), concat(sample_bth_bytes(kRcWriteOnly),
                             {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  //
                              0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x01, 0x00, 0x00}));
}

TEST(BuildBytes, RethThenImmDt) {
  Packet p = with_bth(sample_bth(kRcWriteOnlyImm));
  p.reth = {.va = 0xfedcba9876543210, .rkey = 0x1, .dma_length = 0x2};
  const uint8_t imm[4] = {0xde, 0xad, 0xbe, 0xef};  // ImmDt is opaque: copied as is
  std::memcpy(&p.imm_data, imm, 4);
  EXPECT_EQ(built(p), concat(sample_bth_bytes(kRcWriteOnlyImm),
                             {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,  //
                              0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  //
                              0xde, 0xad, 0xbe, 0xef}));
}

TEST(BuildBytes, Aeth) {  // IBA 9.3.5: Syndrome(8) MSN(24)
  Packet p = with_bth(sample_bth(kRcAcknowledge));
  p.bth.pad_count = 0;
  p.aeth = {.syndrome = make_syndrome(AckType::kNak, uint8_t(NakCode::kRemoteAccessError)),
            .msn = 0x0a0b0c};
  Bytes want = concat(sample_bth_bytes(kRcAcknowledge), {0x62, 0x0a, 0x0b, 0x0c});
  want[1] = 0xc0;  // SE, M, no pad
  EXPECT_EQ(built(p), want);
}

TEST(BuildBytes, AtomicEth) {  // IBA 9.3.4: VA(64) R_Key(32) SwapAddData(64) CompareData(64)
  Packet p = with_bth(sample_bth(kRcCompareSwap));
  p.atomic = {.va = 0x1122334455667788,
              .rkey = 0xdeadbeef,
              .swap_add = 0x0102030405060708,
              .compare = 0xf0e0d0c0b0a09080};
  EXPECT_EQ(built(p), concat(sample_bth_bytes(kRcCompareSwap),
                             {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  //
                              0xde, 0xad, 0xbe, 0xef,                          //
                              0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  //
                              0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80}));
}

TEST(BuildBytes, AethThenAtomicAckEth) {  // IBA 9.3.6: OrigRemDt(64) after the AETH
  Packet p = with_bth(sample_bth(kRcAtomicAcknowledge));
  p.aeth = {.syndrome = make_syndrome(AckType::kAck, kCreditInvalid), .msn = 1};
  p.atomic_ack = {.orig = 0xcafef00d12345678};
  EXPECT_EQ(built(p), concat(sample_bth_bytes(kRcAtomicAcknowledge),
                             {0x1f, 0x00, 0x00, 0x01,  //
                              0xca, 0xfe, 0xf0, 0x0d, 0x12, 0x34, 0x56, 0x78}));
}

TEST(BuildBytes, Ieth) {  // IBA 9.3.7: R_Key(32)
  Packet p = with_bth(sample_bth(kRcSendOnlyInv));
  p.invalidate_rkey = 0x11223344;
  EXPECT_EQ(built(p), concat(sample_bth_bytes(kRcSendOnlyInv), {0x11, 0x22, 0x33, 0x44}));
}

TEST(BuildBytes, DethThenImmDt) {  // IBA 9.3.2: Q_Key(32) resv(8) SrcQP(24); DETH precedes ImmDt
  Packet p = with_bth(sample_bth(kUdSendOnlyImm));
  p.deth = {.qkey = 0x80010203, .src_qp = 0x123456};
  const uint8_t imm[4] = {0x01, 0x02, 0x03, 0x04};
  std::memcpy(&p.imm_data, imm, 4);
  EXPECT_EQ(built(p), concat(sample_bth_bytes(kUdSendOnlyImm),
                             {0x80, 0x01, 0x02, 0x03, 0x00, 0x12, 0x34, 0x56,  //
                              0x01, 0x02, 0x03, 0x04}));
}

TEST(BuildBytes, CnpIsBthAndSixteenZeroBytes) {
  Packet p = with_bth(sample_bth(kCnp));
  p.bth.pad_count = 0;
  Bytes want = concat(sample_bth_bytes(kCnp), Bytes(16, 0));
  want[1] = 0xc0;
  EXPECT_EQ(built(p), want);
}

TEST(BuildBytes, UnknownOpcodeWritesNothing) {
  uint8_t buf[4] = {1, 2, 3, 4};
  Packet p;
  p.bth.opcode = 0x15;
  EXPECT_EQ(build(p, buf), 0u);
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(header_size(0x15), 0u);
}

// Parsed fields equal the built ones, for the headers the opcode carries;
// headers it does not carry come back as defaults.
void expect_same_fields(const Packet& got, const Packet& want) {
  const uint8_t h = opcode_info(want.bth.opcode).headers;
  const Packet none;
  auto pick = [&](uint8_t bit) -> const Packet& { return (h & bit) ? want : none; };
  EXPECT_EQ(got.bth.opcode, want.bth.opcode);
  EXPECT_EQ(got.bth.solicited, want.bth.solicited);
  EXPECT_EQ(got.bth.mig_req, want.bth.mig_req);
  EXPECT_EQ(got.bth.pad_count, want.bth.pad_count);
  EXPECT_EQ(got.bth.tver, 0);
  EXPECT_EQ(got.bth.pkey, want.bth.pkey);
  EXPECT_EQ(got.bth.fecn, want.bth.fecn);
  EXPECT_EQ(got.bth.becn, want.bth.becn);
  EXPECT_EQ(got.bth.dest_qp, want.bth.dest_qp);
  EXPECT_EQ(got.bth.ack_req, want.bth.ack_req);
  EXPECT_EQ(got.bth.sr, want.bth.sr);
  EXPECT_EQ(got.bth.psn, want.bth.psn);
  EXPECT_EQ(got.reth.va, pick(kHdrReth).reth.va);
  EXPECT_EQ(got.reth.rkey, pick(kHdrReth).reth.rkey);
  EXPECT_EQ(got.reth.dma_length, pick(kHdrReth).reth.dma_length);
  EXPECT_EQ(got.aeth.syndrome, pick(kHdrAeth).aeth.syndrome);
  EXPECT_EQ(got.aeth.msn, pick(kHdrAeth).aeth.msn);
  EXPECT_EQ(got.atomic.va, pick(kHdrAtomicEth).atomic.va);
  EXPECT_EQ(got.atomic.rkey, pick(kHdrAtomicEth).atomic.rkey);
  EXPECT_EQ(got.atomic.swap_add, pick(kHdrAtomicEth).atomic.swap_add);
  EXPECT_EQ(got.atomic.compare, pick(kHdrAtomicEth).atomic.compare);
  EXPECT_EQ(got.atomic_ack.orig, pick(kHdrAtomicAck).atomic_ack.orig);
  EXPECT_EQ(got.deth.qkey, pick(kHdrDeth).deth.qkey);
  EXPECT_EQ(got.deth.src_qp, pick(kHdrDeth).deth.src_qp);
  EXPECT_EQ(got.imm_data, pick(kHdrImm).imm_data);
  EXPECT_EQ(got.invalidate_rkey, pick(kHdrIeth).invalidate_rkey);
}

TEST(RoundTrip, EveryOpcodeEveryHeader) {
  std::mt19937_64 rng(20240601);
  for (int op = 0; op < 256; ++op) {
    if (!opcode_valid(uint8_t(op))) continue;
    SCOPED_TRACE(opcode_info(uint8_t(op)).name);
    const bool carries = opcode_info(uint8_t(op)).flags & kOpPayload;
    for (int round = 0; round < 50; ++round) {
      Packet want = test::random_packet(rng, uint8_t(op));
      const Bytes payload = test::random_bytes(rng, carries ? rng() % 70 : 0);
      const Bytes wire = test::assemble(want, payload);

      Packet got;
      ASSERT_EQ(parse(wire, got), ParseError::kOk);
      expect_same_fields(got, want);
      ASSERT_EQ(got.payload_len, payload.size());
      EXPECT_EQ(got.payload, wire.data() + header_size(uint8_t(op)));
      EXPECT_EQ(Bytes(got.payload, got.payload + got.payload_len), payload);

      // Building the parsed packet gives the same header bytes back.
      Bytes again(kMaxTransportHeaders);
      again.resize(build(got, again.data()));
      EXPECT_EQ(again, Bytes(wire.begin(), wire.begin() + long(again.size())));
    }
  }
}

TEST(Psn, ArithmeticWrapsAt24Bits) {
  EXPECT_EQ(psn_add(0xffffff, 1), 0u);
  EXPECT_EQ(psn_add(0xfffffe, 5), 3u);
  EXPECT_EQ(psn_diff(0, 0xffffff), 1);
  EXPECT_EQ(psn_diff(0xffffff, 0), -1);
  EXPECT_EQ(psn_diff(0x800000, 0), -0x800000);  // half the space: "before"
  EXPECT_EQ(psn_diff(0x7fffff, 0), 0x7fffff);
  EXPECT_EQ(pad_for(0), 0);
  EXPECT_EQ(pad_for(1), 3);
  EXPECT_EQ(pad_for(6), 2);
  EXPECT_EQ(pad_for(4095), 1);
}

}  // namespace
}  // namespace flexins::wire
