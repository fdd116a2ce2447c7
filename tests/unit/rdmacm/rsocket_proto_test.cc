// The rsocket wire format (rsocket_proto.h): ConnData and control messages
// survive encode → decode, are big-endian on the wire, and the decoders
// refuse what a FlexiNS rsocket peer never sends.
#include "rdmacm/rsocket_proto.h"

#include <gtest/gtest.h>

#include <cstring>

namespace flexins::rdmacm::rs {
namespace {

ConnData sample_conn() {
  ConnData d;
  d.rq_credits = 256;
  d.ring_rkey = 0x11223344;
  d.ring_addr = 0x00007f0012345000ull;
  d.ring_size = 512 * 1024;
  return d;
}

TEST(RsocketConnData, RoundTrips) {
  uint8_t buf[kConnDataBytes];
  encode_conn_data(sample_conn(), buf);
  auto d = decode_conn_data(buf, sizeof buf);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->rq_credits, 256u);
  EXPECT_EQ(d->ring_rkey, 0x11223344u);
  EXPECT_EQ(d->ring_addr, 0x00007f0012345000ull);
  EXPECT_EQ(d->ring_size, 512u * 1024);
}

TEST(RsocketConnData, IsBigEndianWithMagic) {
  uint8_t buf[kConnDataBytes];
  encode_conn_data(sample_conn(), buf);
  EXPECT_EQ(std::memcmp(buf, "FXRS", 4), 0);
  EXPECT_EQ(buf[4], kConnVersion);
  const uint8_t rkey[] = {0x11, 0x22, 0x33, 0x44};
  EXPECT_EQ(std::memcmp(buf + 12, rkey, 4), 0);
}

TEST(RsocketConnData, FitsARequest) {
  // rdma_connect's private data for RDMA_PS_TCP holds 56 bytes.
  EXPECT_LE(kConnDataBytes, 56u);
}

TEST(RsocketConnData, RefusesForeignOrBrokenData) {
  uint8_t buf[kConnDataBytes];
  encode_conn_data(sample_conn(), buf);
  EXPECT_FALSE(decode_conn_data(nullptr, 0).has_value());
  EXPECT_FALSE(decode_conn_data(buf, kConnDataBytes - 1).has_value()) << "short";
  uint8_t bad[kConnDataBytes];
  std::memcpy(bad, buf, sizeof bad);
  bad[0] ^= 1;
  EXPECT_FALSE(decode_conn_data(bad, sizeof bad).has_value()) << "magic";
  std::memcpy(bad, buf, sizeof bad);
  bad[4] = kConnVersion + 1;
  EXPECT_FALSE(decode_conn_data(bad, sizeof bad).has_value()) << "version";
  ConnData empty = sample_conn();
  empty.ring_size = 0;
  encode_conn_data(empty, bad);
  EXPECT_FALSE(decode_conn_data(bad, sizeof bad).has_value()) << "no ring";
  ConnData no_credit = sample_conn();
  no_credit.rq_credits = 0;
  encode_conn_data(no_credit, bad);
  EXPECT_FALSE(decode_conn_data(bad, sizeof bad).has_value()) << "no credits";
  // The REQ private data field is padded: longer input is fine.
  uint8_t padded[56] = {};
  std::memcpy(padded, buf, sizeof buf);
  EXPECT_TRUE(decode_conn_data(padded, sizeof padded).has_value());
}

TEST(RsocketCtrl, EveryTypeRoundTrips) {
  for (CtrlType t : {CtrlType::kCredit, CtrlType::kIomap, CtrlType::kIounmap, CtrlType::kFin}) {
    CtrlMsg m;
    m.type = t;
    m.reposted = 0xfffffff0u;
    m.freed = 0x0123456789abcdefull;
    m.addr = 0x7f00deadbeef0000ull;
    m.length = 1u << 20;
    m.rkey = 0xcafe;
    uint8_t buf[kCtrlBytes];
    encode_ctrl(m, buf);
    auto d = decode_ctrl(buf, sizeof buf);
    ASSERT_TRUE(d.has_value()) << int(t);
    EXPECT_EQ(d->type, t);
    EXPECT_EQ(d->reposted, m.reposted);
    EXPECT_EQ(d->freed, m.freed);
    EXPECT_EQ(d->addr, m.addr);
    EXPECT_EQ(d->length, m.length);
    EXPECT_EQ(d->rkey, m.rkey);
  }
}

TEST(RsocketCtrl, FitsAReceiveSlot) { EXPECT_LE(kCtrlBytes, kRecvSlotBytes); }

TEST(RsocketCtrl, RefusesUnknownTypeAndWrongLength) {
  CtrlMsg m;
  m.type = CtrlType::kFin;
  uint8_t buf[kCtrlBytes];
  encode_ctrl(m, buf);
  EXPECT_FALSE(decode_ctrl(buf, kCtrlBytes - 1).has_value());
  EXPECT_FALSE(decode_ctrl(buf, kCtrlBytes + 1).has_value());
  buf[0] = 0;
  EXPECT_FALSE(decode_ctrl(buf, sizeof buf).has_value());
  buf[0] = 5;
  EXPECT_FALSE(decode_ctrl(buf, sizeof buf).has_value());
}

}  // namespace
}  // namespace flexins::rdmacm::rs
