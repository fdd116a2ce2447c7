// UD queue pairs (IBA 9.8): one datagram per message, DETH with Q_Key and
// source QPN, the 40-byte GRH area ahead of the payload in the receive
// buffer, Q_Key checks, silent drops where UD has no RNR, and the local
// errors a UD send can meet. Driven packet by packet over net_harness.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "net_harness.h"
#include "transport/qp_state.h"
#include "transport/ud_receiver.h"

namespace flexins::transport::test {
namespace {

constexpr uint32_t kQkey = 0x11111111;

class UdTest : public ::testing::Test {
 protected:
  // Host a (10.0.0.1) and host b (10.0.0.2), one UD QP each, both in RTS,
  // and an AH on a that points at b.
  void build(const QpConfig& cfg = {}, uint32_t qkey_a = kQkey, uint32_t qkey_b = kQkey) {
    a_send = &a.make_cq();
    a_recv = &a.make_cq();
    b_send = &b.make_cq();
    b_recv = &b.make_cq();
    qa = &a.make_qp(IBV_QPT_UD, *a_send, *a_recv, cfg);
    qb = &b.make_qp(IBV_QPT_UD, *b_send, *b_recv, cfg);
    ASSERT_EQ(Net::ud_to_rts(*qa->qp, qkey_a, 0x000abc), 0);
    ASSERT_EQ(Net::ud_to_rts(*qb->qp, qkey_b), 0);
    ah_to_b = a.make_ah(b);
  }
  pipe::SendWqe ud_wqe(uint64_t wr_id, uint32_t qkey = kQkey, ibv_wr_opcode op = IBV_WR_SEND) {
    pipe::SendWqe w = make_wqe(wr_id, op);
    w.ah = ah_to_b;
    w.remote_qpn = qb->qpn;
    w.remote_qkey = qkey;
    return w;
  }

  Net net{2};
  Host& a = net.host(0);
  Host& b = net.host(1);
  WatchedCq* a_send = nullptr;
  WatchedCq* a_recv = nullptr;
  WatchedCq* b_send = nullptr;
  WatchedCq* b_recv = nullptr;
  NetQp* qa = nullptr;
  NetQp* qb = nullptr;
  uint32_t ah_to_b = 0;
};

TEST_F(UdTest, DatagramArrivesBehindAHandCheckedGrh) {
  build();
  constexpr uint32_t kSize = 1000;
  Buffer src = a.reg(kSize);
  fill_pattern(src.data, kSize, 7);
  Buffer dst = b.reg(kGrhBytes + kSize + 32);
  std::memset(dst.data, 0xee, dst.size);

  b.find_qp(qb->qpn)->post_recv(77, {dst.sge(0, uint32_t(dst.size))});
  pipe::SendWqe w = ud_wqe(5, kQkey, IBV_WR_SEND_WITH_IMM);
  w.imm_data = htonl(0xabcd0123);
  qa->post_send(w, {src.sge(0, kSize)});
  net.run();

  // On the wire: one UD SEND Only with Immediate, DETH (Q_Key, source QPN),
  // to b's QPN, with the first PSN from sq_psn.
  ASSERT_EQ(net.delivered().size(), 1u);
  const wire::Packet& p = net.delivered()[0].parsed;
  EXPECT_EQ(p.bth.opcode, wire::kUdSendOnlyImm);
  EXPECT_EQ(p.bth.dest_qp, qb->qpn);
  EXPECT_EQ(p.bth.psn, 0x000abcu);
  EXPECT_EQ(p.deth.qkey, kQkey);
  EXPECT_EQ(p.deth.src_qp, qa->qpn);
  EXPECT_EQ(p.payload_len, kSize);
  EXPECT_EQ(net.iovs_outside_mrs, 0u) << "header-only TX: payload straight from the MR";

  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].wr_id, 5u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[0].opcode, IBV_WC_SEND);

  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 77u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[0].opcode, IBV_WC_RECV);
  EXPECT_EQ(rc[0].byte_len, kGrhBytes + kSize);
  EXPECT_EQ(rc[0].wc_flags, unsigned(IBV_WC_GRH | IBV_WC_WITH_IMM));
  EXPECT_EQ(rc[0].imm_data, htonl(0xabcd0123));
  EXPECT_EQ(rc[0].qp_num, qb->qpn);
  EXPECT_EQ(rc[0].src_qp, qa->qpn);
  EXPECT_EQ(rc[0].pkey_index, 0);
  EXPECT_EQ(rc[0].slid, 0x0001) << "10.0.0.1's LID (pipe/lid.h)";
  EXPECT_EQ(rc[0].sl, 0);

  // The GRH area: 20 zero bytes, then the IPv4 header of the packet from
  // 10.0.0.1 to 10.0.0.2. UDP payload = BTH 12 + DETH 8 + ImmDt 4 + 1000 +
  // ICRC 4 = 1028; total length 20 + 8 + 1028 = 1056 = 0x0420; ID 0, DF,
  // TTL 64, UDP; checksum worked out by hand: 0x22cb.
  const uint8_t expected_ipv4[20] = {0x45, 0x00, 0x04, 0x20, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                     0x22, 0xcb, 10,   0,    0,    1,    10,   0,    0,    2};
  for (uint32_t i = 0; i < kGrhIpv4Offset; ++i) EXPECT_EQ(dst.data[i], 0) << "GRH byte " << i;
  EXPECT_EQ(std::memcmp(dst.data + kGrhIpv4Offset, expected_ipv4, sizeof expected_ipv4), 0);
  EXPECT_EQ(std::memcmp(dst.data + kGrhBytes, src.data, kSize), 0);
  for (size_t i = kGrhBytes + kSize; i < dst.size; ++i) ASSERT_EQ(dst.data[i], 0xee) << "wrote past";
}

// qperf without the RDMA CM: an AH with no GRH, only the peer's LID. The
// engine resolves it with path_destination (as Session::create_ah does) and
// the datagram arrives as any other: behind a GRH area, with the sender's
// LID in the completion.
TEST_F(UdTest, AnAddressHandleWithoutAGrhReachesTheDlidsHost) {
  build();
  ibv_ah_attr attr{};
  attr.is_global = 0;
  attr.dlid = 0x0002;  // 10.0.0.2, seen from 10.0.0.1
  attr.port_num = 1;
  AddressHandle ah;
  ah.pd = a.pd;
  ASSERT_TRUE(path_destination(attr, a.ip, ah.dest_ip));
  ASSERT_EQ(ah.dest_ip, b.ip);
  const uint32_t by_lid = 99;
  a.env.ahs[by_lid] = ah;

  constexpr uint32_t kSize = 2048;  // qperf ud_bw's message size
  Buffer src = a.reg(kSize);
  fill_pattern(src.data, kSize, 3);
  Buffer dst = b.reg(kGrhBytes + kSize);  // qperf: msg_size + GRH_SIZE
  qb->post_recv(1, {dst.sge(0, uint32_t(dst.size))});
  pipe::SendWqe w = ud_wqe(7);
  w.ah = by_lid;
  qa->post_send(w, {src.sge(0, kSize)});
  net.run();

  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[0].byte_len, kGrhBytes + kSize);
  EXPECT_EQ(rc[0].wc_flags, unsigned(IBV_WC_GRH));
  EXPECT_EQ(rc[0].slid, 0x0001);
  EXPECT_EQ(rc[0].src_qp, qa->qpn);
  EXPECT_EQ(std::memcmp(dst.data + kGrhIpv4Offset + 12, &a.ip, 4), 0) << "GRH: IPv4 source";
  EXPECT_EQ(std::memcmp(dst.data + kGrhIpv4Offset + 16, &b.ip, 4), 0) << "GRH: IPv4 destination";
  EXPECT_EQ(std::memcmp(dst.data + kGrhBytes, src.data, kSize), 0);
  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
}

TEST(UdGrh, Ipv4HeaderChecksumsToAllOnes) {
  uint8_t grh[kGrhBytes];
  uint32_t src = htonl(0x7f00d501), dst = htonl(0xc0a80a63);
  build_grh_ipv4(grh, src, dst, 0x02, 4096 + 24);
  uint32_t sum = 0;
  for (uint32_t i = 0; i < 20; i += 2) sum += uint32_t(grh[20 + i]) << 8 | grh[20 + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  EXPECT_EQ(sum, 0xffffu);
  EXPECT_EQ(grh[20] >> 4, 4) << "version nibble at offset 20: ibv_init_ah_from_wc's IPv4 test";
  EXPECT_EQ(grh[21], 0x02);
  EXPECT_EQ(std::memcmp(grh + 32, &src, 4), 0);
  EXPECT_EQ(std::memcmp(grh + 36, &dst, 4), 0);
  EXPECT_EQ((grh[22] << 8 | grh[23]), 20 + 8 + 4096 + 24);
}

TEST_F(UdTest, QkeyMismatchIsDroppedAndCountedAndTheWqeStaysForTheNext) {
  build();
  Buffer src = a.reg(64);
  Buffer dst = b.reg(kGrhBytes + 64);
  qb->post_recv(1, {dst.sge(0, uint32_t(dst.size))});
  qa->post_send(ud_wqe(10, 0x22222222), {src.sge(0, 64)});
  net.run();
  EXPECT_TRUE(b_recv->drain().empty());
  EXPECT_EQ(b.env.counters().rx_drop_bad_qkey.get(), 1u);
  // The sender never knows: its datagram left.
  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);

  qa->post_send(ud_wqe(11), {src.sge(0, 64)});
  net.run();
  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(qb->qp->state(), IBV_QPS_RTS);
}

TEST_F(UdTest, QkeyWithHighBitSetMeansTheSendersOwnQkey) {
  build({}, kQkey, kQkey);
  Buffer src = a.reg(8);
  Buffer dst = b.reg(kGrhBytes + 8);
  qb->post_recv(1, {dst.sge(0, uint32_t(dst.size))});
  qa->post_send(ud_wqe(10, 0x80000000u), {src.sge(0, 8)});
  net.run();
  ASSERT_EQ(net.delivered().size(), 1u);
  EXPECT_EQ(net.delivered()[0].parsed.deth.qkey, kQkey);
  EXPECT_EQ(b_recv->drain().size(), 1u);
}

TEST_F(UdTest, NoReceiveWqeDropsSilentlyWithoutRnr) {
  build();
  Buffer src = a.reg(100);
  Buffer dst = b.reg(kGrhBytes + 100);
  qa->post_send(ud_wqe(1), {src.sge(0, 100)});
  net.run();
  EXPECT_EQ(b.env.counters().rx_drop_no_recv_wqe.get(), 1u);
  EXPECT_EQ(net.delivered().size(), 1u) << "no NAK, nothing else on the wire";
  EXPECT_EQ(qb->qp->state(), IBV_QPS_RTS);
  EXPECT_TRUE(b_recv->drain().empty());
  ASSERT_EQ(a_send->drain().size(), 1u);

  qb->post_recv(2, {dst.sge(0, uint32_t(dst.size))});
  qa->post_send(ud_wqe(3), {src.sge(0, 100)});
  net.run();
  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 2u);
}

TEST_F(UdTest, MessageUpToThePortMtuGoesLargerFailsWithLocalLengthError) {
  QpConfig cfg;
  cfg.port_mtu_bytes = 1024;
  build(cfg);
  Buffer src = a.reg(2048);
  Buffer dst = b.reg(kGrhBytes + 2048);
  qb->post_recv(1, {dst.sge(0, uint32_t(dst.size))});
  qa->post_send(ud_wqe(1), {src.sge(0, 1024)});
  net.run();
  ASSERT_EQ(b_recv->drain().size(), 1u);
  ASSERT_EQ(a_send->drain().size(), 1u);

  const size_t before = net.delivered().size();
  qa->post_send(ud_wqe(2), {src.sge(0, 1025)});
  qa->post_send(ud_wqe(3), {src.sge(0, 8)});
  net.run();
  EXPECT_EQ(net.delivered().size(), before) << "nothing of an over-long datagram leaves";
  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].wr_id, 2u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_LEN_ERR);
  EXPECT_EQ(sc[1].wr_id, 3u);
  EXPECT_EQ(sc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(qa->qp->state(), IBV_QPS_ERR);
  EXPECT_TRUE(a.env.events.empty()) << "an error reported in a completion raises no event";
}

TEST_F(UdTest, InlineDataLeavesFromTheWqeCopy) {
  build();
  Buffer dst = b.reg(kGrhBytes + 200);
  qb->post_recv(9, {dst.sge(0, uint32_t(dst.size))});
  std::vector<uint8_t> data(200);
  fill_pattern(data.data(), data.size(), 3);
  qa->post_send_inline(ud_wqe(4), data.data(), uint32_t(data.size()));
  std::fill(data.begin(), data.end(), 0);  // the host may reuse its buffer at once
  std::vector<uint8_t> expect(200);
  fill_pattern(expect.data(), expect.size(), 3);
  net.run();
  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, kGrhBytes + 200);
  EXPECT_EQ(std::memcmp(dst.data + kGrhBytes, expect.data(), expect.size()), 0);
  EXPECT_EQ(a_send->drain().size(), 1u);
}

TEST_F(UdTest, SendCompletesOnlyOnceItsPacketIsOnTheWire) {
  build();
  Buffer src = a.reg(512);
  uint32_t completions = 0;
  a_send->on_push = [&](const pipe::Cqe&) {
    ++completions;
    EXPECT_TRUE(a.env.tx_batch.empty()) << "completed while the packet still sat in the TX batch";
  };
  for (uint64_t i = 0; i < 10; ++i) qa->post_send(ud_wqe(i), {src.sge(0, 512)});
  EXPECT_TRUE(qa->qp->has_tx_work());
  qa->qp->poll(net.now(), 4);  // a budget: four now, the rest later
  EXPECT_EQ(completions, 4u);
  EXPECT_GE(a.env.flushes, 1u);
  EXPECT_TRUE(qa->qp->has_tx_work());
  net.run();
  EXPECT_EQ(completions, 10u);
  EXPECT_FALSE(qa->qp->has_tx_work());
  EXPECT_EQ(qa->qp->next_deadline(), UINT64_MAX) << "UD arms no timers";
  // In posting order, and the slots went back to the host.
  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(sc[i].wr_id, i);
  EXPECT_EQ(qa->shm->sq.consumer.value.load(), qa->shm->sq.producer.value.load());
}

TEST_F(UdTest, OneQpSendsToSeveralDestinationsThroughTheirAhs) {
  Net n3(3);
  Host& h0 = n3.host(0);
  WatchedCq& cq0 = h0.make_cq();
  NetQp& s = h0.make_qp(IBV_QPT_UD, cq0, cq0);
  ASSERT_EQ(Net::ud_to_rts(*s.qp, kQkey), 0);
  Buffer src = h0.reg(64);
  struct Dest {
    Host* host;
    WatchedCq* cq;
    NetQp* qp;
    Buffer buf;
    uint32_t ah;
  };
  std::vector<Dest> dests;
  for (int i = 1; i <= 2; ++i) {
    Host& h = n3.host(i);
    WatchedCq& cq = h.make_cq();
    NetQp& q = h.make_qp(IBV_QPT_UD, cq, cq);
    ASSERT_EQ(Net::ud_to_rts(*q.qp, kQkey), 0);
    Buffer buf = h.reg(8 * (kGrhBytes + 64));
    for (uint32_t k = 0; k < 8; ++k) q.post_recv(k, {buf.sge(k * (kGrhBytes + 64), kGrhBytes + 64)});
    dests.push_back({&h, &cq, &q, buf, h0.make_ah(h)});
  }
  for (uint64_t k = 0; k < 8; ++k) {
    const Dest& d = dests[k % 2];
    pipe::SendWqe w = make_wqe(k, IBV_WR_SEND);
    w.ah = d.ah;
    w.remote_qpn = d.qp->qpn;
    w.remote_qkey = kQkey;
    s.post_send(w, {src.sge(0, 64)});
  }
  n3.run();
  for (const Dest& d : dests) {
    auto rc = d.cq->drain();
    ASSERT_EQ(rc.size(), 4u);
    for (const pipe::Cqe& c : rc) {
      EXPECT_EQ(c.src_qp, s.qpn);
      EXPECT_EQ(c.status, IBV_WC_SUCCESS);
      EXPECT_EQ(std::memcmp(d.buf.data + c.wr_id * (kGrhBytes + 64) + 32, &h0.ip, 4), 0)
          << "the GRH names the sender's address";
    }
  }
  EXPECT_EQ(cq0.drain().size(), 8u);
}

TEST_F(UdTest, UnknownAhOrAhOfAnotherPdFailsTheWqe) {
  build();
  Buffer src = a.reg(8);
  pipe::SendWqe w = ud_wqe(1);
  w.ah = 999;
  qa->post_send(w, {src.sge(0, 8)});
  net.run();
  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_QP_OP_ERR);
  EXPECT_EQ(qa->qp->state(), IBV_QPS_ERR);
  EXPECT_TRUE(net.delivered().empty());

  Net n2;
  WatchedCq& cq = n2.host(0).make_cq();
  NetQp& q = n2.host(0).make_qp(IBV_QPT_UD, cq, cq);
  ASSERT_EQ(Net::ud_to_rts(*q.qp, kQkey), 0);
  Buffer s2 = n2.host(0).reg(8);
  pipe::SendWqe w2 = make_wqe(2, IBV_WR_SEND);
  w2.ah = n2.host(0).make_ah(n2.host(1), 99);  // another PD
  w2.remote_qkey = kQkey;
  q.post_send(w2, {s2.sge(0, 8)});
  n2.run();
  auto c2 = cq.drain();
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0].status, IBV_WC_LOC_QP_OP_ERR);
}

TEST_F(UdTest, OnlySendsAreOffered) {
  build();
  Buffer src = a.reg(8);
  qa->post_send(ud_wqe(1, kQkey, IBV_WR_RDMA_WRITE), {src.sge(0, 8)});
  net.run();
  auto sc = a_send->drain();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_QP_OP_ERR);
}

TEST_F(UdTest, ReceiveBufferSmallerThanGrhPlusPayloadFailsTheReceive) {
  build();
  Buffer src = a.reg(100);
  Buffer dst = b.reg(kGrhBytes + 99);
  qb->post_recv(1, {dst.sge(0, uint32_t(dst.size))});
  qa->post_send(ud_wqe(1), {src.sge(0, 100)});
  net.run();
  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_LOC_LEN_ERR);
  EXPECT_EQ(qb->qp->state(), IBV_QPS_ERR);
}

TEST_F(UdTest, ScatteredReceiveSplitsGrhAndPayloadOverSges) {
  build();
  Buffer src = a.reg(300);
  fill_pattern(src.data, 300, 11);
  Buffer grh = b.reg(kGrhBytes);
  Buffer body = b.reg(300);
  qb->post_recv(1, {grh.sge(0, 30), grh.sge(30, 10), body.sge(0, 300)});
  qa->post_send(ud_wqe(1), {src.sge(0, 100), src.sge(100, 200)});
  net.run();
  auto rc = b_recv->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(grh.data[20], 0x45);
  EXPECT_EQ(std::memcmp(body.data, src.data, 300), 0);
}

TEST_F(UdTest, PacketsBeforeRtrAreDropped) {
  a_send = &a.make_cq();
  b_recv = &b.make_cq();
  qa = &a.make_qp(IBV_QPT_UD, *a_send, *a_send);
  qb = &b.make_qp(IBV_QPT_UD, *b_recv, *b_recv);
  ASSERT_EQ(Net::ud_to_rts(*qa->qp, kQkey), 0);
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_INIT;
  attr.port_num = 1;
  attr.qkey = kQkey;
  ASSERT_EQ(qb->qp->modify(attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY), 0);
  ah_to_b = a.make_ah(b);
  Buffer src = a.reg(8);
  Buffer dst = b.reg(kGrhBytes + 8);
  qb->post_recv(1, {dst.sge(0, uint32_t(dst.size))});
  qa->post_send(ud_wqe(1), {src.sge(0, 8)});
  net.run();
  EXPECT_EQ(b.env.counters().rx_drop_qp_state.get(), 1u);
  EXPECT_TRUE(b_recv->drain().empty());
}

TEST(UdModify, AttributeMasksFollowTheVerbsTable) {
  Net n;
  WatchedCq& cq = n.host(0).make_cq();
  NetQp& q = n.host(0).make_qp(IBV_QPT_UD, cq, cq);
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.port_num = 1;
  a.qkey = kQkey;
  // RESET → INIT needs STATE | PKEY_INDEX | PORT | QKEY; ACCESS_FLAGS is RC's.
  EXPECT_EQ(q.qp->modify(a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT), EINVAL);
  EXPECT_EQ(q.qp->modify(a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY |
                                IBV_QP_ACCESS_FLAGS),
            EINVAL);
  ASSERT_EQ(q.qp->modify(a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY), 0);
  // INIT → RTR: STATE alone; a path (AV) is not a UD QP's.
  a = {};
  a.qp_state = IBV_QPS_RTR;
  a.ah_attr.is_global = 1;
  EXPECT_EQ(q.qp->modify(a, IBV_QP_STATE | IBV_QP_AV), EINVAL);
  ASSERT_EQ(q.qp->modify(a, IBV_QP_STATE), 0);
  // RTR → RTS needs SQ_PSN.
  a.qp_state = IBV_QPS_RTS;
  EXPECT_EQ(q.qp->modify(a, IBV_QP_STATE), EINVAL);
  a.sq_psn = 1;
  ASSERT_EQ(q.qp->modify(a, IBV_QP_STATE | IBV_QP_SQ_PSN), 0);
  ibv_qp_attr got{};
  ibv_qp_init_attr init{};
  q.qp->query(got, init);
  EXPECT_EQ(got.qkey, kQkey);
  EXPECT_EQ(init.qp_type, IBV_QPT_UD);
}

}  // namespace
}  // namespace flexins::transport::test
