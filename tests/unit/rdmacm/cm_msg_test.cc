// The CM messages: every type survives encode → decode, and the decoder
// refuses what is not a well-formed FlexiNS CM message.
#include "rdmacm/cm_msg.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

namespace flexins::rdmacm {
namespace {

CmMessage sample(CmMsgType type, uint8_t pd_len) {
  CmMessage m;
  m.type = type;
  m.qpn = 0xabcdef;
  m.starting_psn = 0x123456;
  for (int i = 0; i < 16; ++i) m.gid[i] = uint8_t(0xa0 + i);
  m.qkey = 0x01234567;
  m.reason = 28;
  m.port_space = 0x0106;
  m.mtu = 5;
  m.responder_resources = 4;
  m.initiator_depth = 3;
  m.retry_count = 7;
  m.rnr_retry_count = 6;
  m.flow_control = 1;
  m.srq = 0;
  m.local_ack_timeout = 14;
  m.private_data_len = pd_len;
  for (size_t i = 0; i < std::min<size_t>(pd_len, sizeof m.private_data); ++i)
    m.private_data[i] = uint8_t(i * 7 + 1);
  return m;
}

void expect_same(const CmMessage& a, const CmMessage& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.qpn, b.qpn);
  EXPECT_EQ(a.starting_psn, b.starting_psn);
  EXPECT_EQ(0, std::memcmp(a.gid, b.gid, 16));
  EXPECT_EQ(a.qkey, b.qkey);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.port_space, b.port_space);
  EXPECT_EQ(a.mtu, b.mtu);
  EXPECT_EQ(a.responder_resources, b.responder_resources);
  EXPECT_EQ(a.initiator_depth, b.initiator_depth);
  EXPECT_EQ(a.retry_count, b.retry_count);
  EXPECT_EQ(a.rnr_retry_count, b.rnr_retry_count);
  EXPECT_EQ(a.flow_control, b.flow_control);
  EXPECT_EQ(a.srq, b.srq);
  EXPECT_EQ(a.local_ack_timeout, b.local_ack_timeout);
  ASSERT_EQ(a.private_data_len, b.private_data_len);
  EXPECT_EQ(0, std::memcmp(a.private_data, b.private_data, a.private_data_len));
}

constexpr CmMsgType kAllTypes[] = {CmMsgType::kReq,  CmMsgType::kRep,     CmMsgType::kRtu,
                                   CmMsgType::kRej,  CmMsgType::kDreq,    CmMsgType::kDrep,
                                   CmMsgType::kSidrReq, CmMsgType::kSidrRep};

TEST(CmMsg, EveryTypeRoundTripsWithTheLargestPrivateDataItAllows) {
  for (CmMsgType t : kAllTypes) {
    SCOPED_TRACE(cm_msg_type_name(t));
    CmMessage in = sample(t, uint8_t(max_private_data(t)));
    uint8_t buf[kMaxMessageBytes];
    size_t n = encode(in, buf, sizeof buf);
    ASSERT_EQ(n, kHeaderBytes + kBodyFixedBytes + max_private_data(t));
    CmMessage out;
    size_t used = 0;
    ASSERT_EQ(decode(buf, n, &out, &used), DecodeResult::kOk);
    EXPECT_EQ(used, n);
    expect_same(in, out);
  }
}

TEST(CmMsg, PrivateDataLimitsAreTheIbCmOnesAsRdmaCmSeesThem) {
  // IBA 12.6: REQ 92 bytes less the 36-byte rdma_cm header; REP 196; REJ 148;
  // SIDR_REQ 216 - 36; SIDR_REP 136.
  EXPECT_EQ(max_private_data(CmMsgType::kReq), 56u);
  EXPECT_EQ(max_private_data(CmMsgType::kRep), 196u);
  EXPECT_EQ(max_private_data(CmMsgType::kRej), 148u);
  EXPECT_EQ(max_private_data(CmMsgType::kSidrReq), 180u);
  EXPECT_EQ(max_private_data(CmMsgType::kSidrRep), 136u);
  uint8_t buf[kMaxMessageBytes];
  EXPECT_EQ(encode(sample(CmMsgType::kReq, 57), buf, sizeof buf), 0u) << "REQ with 57 bytes";
  EXPECT_EQ(encode(sample(CmMsgType::kRej, 149), buf, sizeof buf), 0u) << "REJ with 149 bytes";
}

TEST(CmMsg, FieldsOutsideTheirWidthAreNotEncoded) {
  uint8_t buf[kMaxMessageBytes];
  CmMessage m = sample(CmMsgType::kReq, 0);
  m.qpn = 0x1000000;  // QPNs are 24 bits (IBA 9.2)
  EXPECT_EQ(encode(m, buf, sizeof buf), 0u);
  m = sample(CmMsgType::kReq, 0);
  m.starting_psn = 0x1000000;
  EXPECT_EQ(encode(m, buf, sizeof buf), 0u);
  m = sample(CmMsgType::kReq, 0);
  m.retry_count = 8;  // 3 bits (IBA 12.7.38)
  EXPECT_EQ(encode(m, buf, sizeof buf), 0u);
  m = sample(CmMsgType::kReq, 0);
  m.mtu = 0;  // a REQ must say its path MTU
  EXPECT_EQ(encode(m, buf, sizeof buf), 0u);
  m = sample(CmMsgType::kRtu, 0);
  m.mtu = 0;  // an RTU need not
  EXPECT_GT(encode(m, buf, sizeof buf), 0u);
  EXPECT_EQ(encode(sample(CmMsgType::kRep, 10), buf, 20), 0u) << "output buffer too small";
}

TEST(CmMsg, EveryStrictPrefixAsksForMoreBytes) {
  CmMessage in = sample(CmMsgType::kRep, 100);
  uint8_t buf[kMaxMessageBytes];
  size_t n = encode(in, buf, sizeof buf);
  for (size_t len = 0; len < n; ++len) {
    CmMessage out;
    size_t used = 0;
    ASSERT_EQ(decode(buf, len, &out, &used), DecodeResult::kNeedMore) << "prefix of " << len;
  }
}

TEST(CmMsg, TwoMessagesInOneBufferDecodeOneAfterTheOther) {
  uint8_t buf[2 * kMaxMessageBytes];
  size_t a = encode(sample(CmMsgType::kRep, 3), buf, sizeof buf);
  size_t b = encode(sample(CmMsgType::kDreq, 0), buf + a, sizeof buf - a);
  CmMessage out;
  size_t used = 0;
  ASSERT_EQ(decode(buf, a + b, &out, &used), DecodeResult::kOk);
  EXPECT_EQ(out.type, CmMsgType::kRep);
  EXPECT_EQ(used, a);
  ASSERT_EQ(decode(buf + used, a + b - used, &out, &used), DecodeResult::kOk);
  EXPECT_EQ(out.type, CmMsgType::kDreq);
  EXPECT_EQ(used, b);
}

TEST(CmMsg, ForeignBytesAreRefusedAsSoonAsTheyDiffer) {
  // Someone else's protocol on the port: an HTTP request.
  const char http[] = "GET / HTTP/1.0\r\n\r\n";
  CmMessage out;
  size_t used = 0;
  EXPECT_EQ(decode(reinterpret_cast<const uint8_t*>(http), 1, &out, &used), DecodeResult::kBad);

  uint8_t buf[kMaxMessageBytes];
  size_t n = encode(sample(CmMsgType::kReq, 8), buf, sizeof buf);
  uint8_t bad[kMaxMessageBytes];
  std::memcpy(bad, buf, n);
  bad[4] = 2;  // version
  EXPECT_EQ(decode(bad, n, &out, &used), DecodeResult::kBad);
  std::memcpy(bad, buf, n);
  bad[5] = 0;  // type
  EXPECT_EQ(decode(bad, n, &out, &used), DecodeResult::kBad);
  std::memcpy(bad, buf, n);
  bad[5] = 9;
  EXPECT_EQ(decode(bad, n, &out, &used), DecodeResult::kBad);
  std::memcpy(bad, buf, n);
  bad[7] = uint8_t(bad[7] + 1);  // body length disagrees with the private data length
  EXPECT_EQ(decode(bad, n + 1, &out, &used), DecodeResult::kBad);
  std::memcpy(bad, buf, n);
  bad[kHeaderBytes + 35] = 9;  // retry count wider than 3 bits
  EXPECT_EQ(decode(bad, n, &out, &used), DecodeResult::kBad);
  std::memcpy(bad, buf, n);
  bad[kHeaderBytes + 0] = 1;  // QPN wider than 24 bits
  EXPECT_EQ(decode(bad, n, &out, &used), DecodeResult::kBad);
}

TEST(CmMsg, RandomBytesNeverDecodeIntoAnInvalidMessage) {
  std::mt19937 rng(12345);
  uint8_t buf[kMaxMessageBytes];
  size_t good = encode(sample(CmMsgType::kReq, 20), buf, sizeof buf);
  for (int i = 0; i < 20000; ++i) {
    uint8_t copy[kMaxMessageBytes];
    std::memcpy(copy, buf, good);
    // Flip a few bytes after the magic; whatever decodes must re-encode.
    for (int k = 0; k < 3; ++k) copy[4 + rng() % (good - 4)] = uint8_t(rng());
    CmMessage out;
    size_t used = 0;
    if (decode(copy, good, &out, &used) == DecodeResult::kOk) {
      uint8_t again[kMaxMessageBytes];
      ASSERT_EQ(encode(out, again, sizeof again), used);
      ASSERT_EQ(0, std::memcmp(again, copy, used));
    }
  }
}

}  // namespace
}  // namespace flexins::rdmacm
