// SEND / RECV between two QPs over the in-memory wire: RC and UC, every
// size from one byte to 1 MiB at every path MTU, with and without immediate
// data, data checked byte by byte, and the TX path checked to be header-only.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>

#include "harness.h"

namespace flexins::transport::test {
namespace {


class SendRecvTest
    : public ::testing::TestWithParam<std::tuple<ibv_qp_type, ibv_mtu, uint32_t, bool>> {};

TEST_P(SendRecvTest, MessageArrivesIntactWithOneCompletionEachSide) {
  const auto [type, mtu, size, imm] = GetParam();
  QpOptions o;
  o.type = type;
  o.mtu = mtu;
  Fabric f(o, o);
  f.connect();
  Side& a = f.a();
  Side& b = f.b();
  Buffer src = a.reg(size);
  fill_pattern(src.data, size, size);
  Buffer dst = b.reg(size + 64);
  std::memset(dst.data, 0, dst.size);

  // B posts a receive a little larger than the message; A sends.
  b.post_recv(500, {dst.sge(0, size + 64)});
  pipe::SendWqe w = make_wqe(100, imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND);
  w.imm_data = htonl(0xfeedf00d);
  a.post_send(w, {src.sge(0, size)});
  f.run();

  auto sc = a.send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].wr_id, 100u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[0].opcode, IBV_WC_SEND);
  auto rc = b.recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 500u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[0].opcode, IBV_WC_RECV);
  EXPECT_EQ(rc[0].byte_len, size);
  EXPECT_EQ(rc[0].qp_num, b.qpn);
  EXPECT_EQ(rc[0].src_qp, a.qpn);
  if (imm) {
    EXPECT_EQ(rc[0].wc_flags & IBV_WC_WITH_IMM, unsigned(IBV_WC_WITH_IMM));
    EXPECT_EQ(rc[0].imm_data, htonl(0xfeedf00d));
  } else {
    EXPECT_EQ(rc[0].wc_flags & IBV_WC_WITH_IMM, 0u);
  }
  ASSERT_EQ(std::memcmp(dst.data, src.data, size), 0);
  for (uint32_t i = size; i < size + 64; ++i) ASSERT_EQ(dst.data[i], 0) << "wrote past the message";

  // Header-only TX: payload only ever left from registered memory.
  EXPECT_EQ(f.iovs_outside_mrs, 0u);
  EXPECT_EQ(f.bad_out_packets, 0u);
  EXPECT_EQ(a.counters().tx_payload_bytes_copied.get(), 0u);
  EXPECT_EQ(b.counters().tx_payload_bytes_copied.get(), 0u);
  // No loss: no retransmission, no NAK; one request packet per MTU of the
  // message, with the service's opcodes (UC: and nothing sent back).
  EXPECT_EQ(a.counters().retransmitted_packets.get(), 0u);
  EXPECT_EQ(b.counters().naks_sent_psn_sequence.get(), 0u);
  EXPECT_EQ(expect_requests_of(f, type), message_packets(size, mtu));
  EXPECT_EQ(b.counters().uc_messages_dropped.get(), 0u);
  // The send queue slot went back to the host.
  EXPECT_EQ(a.shm->sq.consumer.value.load(), a.shm->sq.producer.value.load());
}

std::string send_recv_name(const ::testing::TestParamInfo<SendRecvTest::ParamType>& p) {
  const auto [type, mtu, size, imm] = p.param;
  return std::string(service_name(type)) + "_mtu" + std::to_string(256u << (mtu - 1)) + "_" +
         std::to_string(size) + (imm ? "_imm" : "");
}

INSTANTIATE_TEST_SUITE_P(
    SizesAndMtus, SendRecvTest,
    ::testing::Combine(::testing::Values(IBV_QPT_RC, IBV_QPT_UC),
                       ::testing::Values(IBV_MTU_256, IBV_MTU_512, IBV_MTU_1024, IBV_MTU_2048,
                                         IBV_MTU_4096),
                       ::testing::Values(1u, 3u, 255u, 256u, 257u, 1000u, 4096u, 65537u, 1u << 20),
                       ::testing::Bool()),
    send_recv_name);

TEST(SendRecv, ZeroByteSendCompletesWithZeroLength) {
  Fabric f;
  f.connect();
  Buffer dst = f.b().reg(16);
  f.b().post_recv(1, {dst.sge(0, 16)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, 0u);
}

TEST(SendRecv, GatherFromThreeSgesScatterIntoTwo) {
  QpOptions o;
  o.mtu = IBV_MTU_256;
  Fabric f(o, o);
  f.connect();
  Buffer s1 = f.a().reg(300), s2 = f.a().reg(10), s3 = f.a().reg(700);
  fill_pattern(s1.data, 300, 1);
  fill_pattern(s2.data, 10, 2);
  fill_pattern(s3.data, 700, 3);
  Buffer d1 = f.b().reg(513), d2 = f.b().reg(1000);
  f.b().post_recv(9, {d1.sge(0, 513), d2.sge(0, 1000)});
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {s1.sge(0, 300), s2.sge(0, 10), s3.sge(0, 700)});
  f.run();
  std::vector<uint8_t> want;
  want.insert(want.end(), s1.data, s1.data + 300);
  want.insert(want.end(), s2.data, s2.data + 10);
  want.insert(want.end(), s3.data, s3.data + 700);
  std::vector<uint8_t> got(d1.data, d1.data + 513);
  got.insert(got.end(), d2.data, d2.data + (1010 - 513));
  EXPECT_EQ(got, want);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, 1010u);
  EXPECT_EQ(f.iovs_outside_mrs, 0u);
}

TEST(SendRecv, InlineDataTravelsFromTheWqeCopy) {
  Fabric f;
  f.connect();
  uint8_t msg[200];
  fill_pattern(msg, sizeof msg, 42);
  Buffer dst = f.b().reg(256);
  f.b().post_recv(1, {dst.sge(0, 256)});
  f.a().post_send_inline(make_wqe(5, IBV_WR_SEND), msg, sizeof msg);
  // The host may scribble over its slot right after posting: the engine copied it.
  f.run();
  EXPECT_EQ(std::memcmp(dst.data, msg, sizeof msg), 0);
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(f.a().counters().tx_payload_bytes_copied.get(), 0u);
}

TEST(SendRecv, UnsignaledSendsCompleteSilentlyButRetireSlots) {
  Fabric f;
  f.connect();
  Buffer src = f.a().reg(64);
  Buffer dst = f.b().reg(64 * 10);
  for (int i = 0; i < 10; ++i) f.b().post_recv(i, {dst.sge(64 * i, 64)});
  for (int i = 0; i < 9; ++i) f.a().post_send(make_wqe(i, IBV_WR_SEND, 0), {src.sge(0, 64)});
  f.a().post_send(make_wqe(9, IBV_WR_SEND), {src.sge(0, 64)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].wr_id, 9u);
  EXPECT_EQ(f.b().recv_cqes().size(), 10u);
  EXPECT_EQ(f.a().shm->sq.consumer.value.load(), 10u);
}

TEST(SendRecv, SqSigAllSignalsEveryWqe) {
  QpOptions o;
  o.sq_sig_all = true;
  Fabric f(o, o);
  f.connect();
  Buffer src = f.a().reg(64);
  Buffer dst = f.b().reg(64 * 4);
  for (int i = 0; i < 4; ++i) f.b().post_recv(i, {dst.sge(64 * i, 64)});
  for (int i = 0; i < 4; ++i) f.a().post_send(make_wqe(i, IBV_WR_SEND, 0), {src.sge(0, 64)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(sc[i].wr_id, uint64_t(i));  // in order
}

TEST(SendRecv, SharedReceiveQueueFeedsTheResponder) {
  QpOptions o;
  o.use_srq = true;
  Fabric f(o, o);
  f.connect();
  Buffer src = f.a().reg(3000);
  fill_pattern(src.data, 3000, 8);
  Buffer dst = f.b().reg(4096);
  f.b().post_recv(31, {dst.sge(0, 4096)});
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 3000)});
  f.run();
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 31u);
  EXPECT_EQ(std::memcmp(dst.data, src.data, 3000), 0);
  EXPECT_EQ(f.b().srq->size(), 0u);
}

TEST(SendRecv, AckCoalescingSendsFarFewerAcksThanPackets) {
  // A 1 MiB SEND at MTU 1024 is 1024 packets. The requester asks for an
  // ACK every kAckReqEveryPackets and at the end; the responder answers
  // only those, coalescing what arrives in one burst.
  Fabric f;
  f.connect();
  const uint32_t size = 1u << 20;
  Buffer src = f.a().reg(size);
  Buffer dst = f.b().reg(size);
  fill_pattern(src.data, size, 77);
  f.b().post_recv(1, {dst.sge(0, size)});
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, size)});
  f.run();
  ASSERT_EQ(std::memcmp(dst.data, src.data, size), 0);
  const uint64_t acks = f.b().counters().acks_sent.get();
  EXPECT_GE(acks, 1u);
  EXPECT_LE(acks, 1024u / 64 + 1);
  EXPECT_EQ(f.a().counters().acks_received.get(), acks);
  EXPECT_EQ(f.sent_by_opcode[wire::kRcSendMiddle], 1022u);
  RecordProperty("acks", int(acks));
}

}  // namespace
}  // namespace flexins::transport::test
