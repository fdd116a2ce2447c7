// Shared receive queues (IBA 10.2.9): several RC QPs take receive WQEs from
// one SRQ ring; slots go back to the host at take time; the SRQ limit fires
// once when fewer WQEs than the armed limit remain; a QP on an SRQ that
// fails reports Last WQE Reached and leaves the SRQ's WQEs to the others.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "net_harness.h"

namespace flexins::transport::test {
namespace {

constexpr uint32_t kQps = 4;
constexpr uint32_t kSlotBytes = 4096;
constexpr uint32_t kSrcSlots = 32;

class SrqTest : public ::testing::Test {
 protected:
  // Host a: kQps RC QPs, each connected to one of host b's kQps RC QPs,
  // which all receive from one SRQ of `srq_depth` WQEs.
  void build(uint32_t srq_depth = 64) {
    a_cq = &a.make_cq();
    b_cq = &b.make_cq();
    srq = &b.make_srq(srq_depth, 2);
    QpConfig on_srq;
    on_srq.srq = srq;
    for (uint32_t i = 0; i < kQps; ++i) {
      qa.push_back(&a.make_qp(IBV_QPT_RC, *a_cq, *a_cq));
      qb.push_back(&b.make_qp(IBV_QPT_RC, *b_cq, *b_cq, on_srq));
      Net::rc_connect(a, *qa[i], b, *qb[i]);
    }
    src = a.reg(kSlotBytes * kSrcSlots);
    dst = b.reg(size_t(kSlotBytes) * srq_depth);
  }
  void post_srq(uint32_t n) {
    for (uint32_t k = 0; k < n; ++k, ++next_wr) srq->post(next_wr, {dst.sge((next_wr % 64) * kSlotBytes, kSlotBytes)});
  }
  // QP i of host a sends `len` bytes whose first two bytes say (i, seq).
  void send(uint32_t i, uint32_t seq, uint32_t len = 200) {
    // Its own source slot: the payload leaves from it when the packet does.
    const uint32_t at = (i * 8 + seq) % kSrcSlots;
    uint8_t* p = src.data + at * kSlotBytes;
    fill_pattern(p, len, i * 1000 + seq);
    p[0] = uint8_t(i);
    p[1] = uint8_t(seq);
    qa[i]->post_send(make_wqe(seq, IBV_WR_SEND), {src.sge(at * kSlotBytes, len)});
  }
  size_t events_of(uint32_t qpn, ibv_event_type e) const {
    size_t n = 0;
    for (auto [q, ev] : b.env.events) n += q == qpn && ev == e;
    return n;
  }

  Net net{2};
  Host& a = net.host(0);
  Host& b = net.host(1);
  WatchedCq* a_cq = nullptr;
  WatchedCq* b_cq = nullptr;
  NetSrq* srq = nullptr;
  std::vector<NetQp*> qa;
  std::vector<NetQp*> qb;
  Buffer src;
  Buffer dst;
  uint64_t next_wr = 0;
};

TEST_F(SrqTest, SeveralQpsShareOneSrqAndItsSlotsReturnAtTake) {
  build();
  post_srq(32);
  for (uint32_t seq = 0; seq < 8; ++seq)
    for (uint32_t i = 0; i < kQps; ++i) send(i, seq);
  net.run();

  auto rc = b_cq->drain();
  ASSERT_EQ(rc.size(), 32u);
  std::map<uint32_t, uint32_t> per_qp;  // qpn → next expected seq
  std::vector<bool> wr_seen(32, false);
  for (const pipe::Cqe& c : rc) {
    ASSERT_EQ(c.status, IBV_WC_SUCCESS);
    ASSERT_EQ(c.opcode, IBV_WC_RECV);
    ASSERT_EQ(c.byte_len, 200u);
    ASSERT_LT(c.wr_id, 32u);
    EXPECT_FALSE(wr_seen[c.wr_id]) << "a WQE completed twice";
    wr_seen[c.wr_id] = true;
    const uint8_t* got = dst.data + c.wr_id * kSlotBytes;
    const uint32_t i = got[0], seq = got[1];
    ASSERT_LT(i, kQps);
    EXPECT_EQ(c.qp_num, qb[i]->qpn) << "the completion names the QP the message came to";
    EXPECT_EQ(c.src_qp, qa[i]->qpn);
    EXPECT_EQ(seq, per_qp[c.qp_num]++) << "each QP's messages arrive in order";
    std::vector<uint8_t> expect(200);
    fill_pattern(expect.data(), 200, i * 1000 + seq);
    EXPECT_EQ(std::memcmp(got + 2, expect.data() + 2, 198), 0);
  }
  for (uint32_t i = 0; i < kQps; ++i) EXPECT_EQ(per_qp[qb[i]->qpn], 8u);
  EXPECT_EQ(srq->posted(), 0u);
  EXPECT_EQ(srq->shm->rq.consumer.value.load(), 32u) << "every slot retired as it was taken";
  auto sc = a_cq->drain();
  EXPECT_EQ(sc.size(), 32u);
  for (const pipe::Cqe& c : sc) EXPECT_EQ(c.status, IBV_WC_SUCCESS);
  EXPECT_EQ(srq->limit_events, 0u) << "never armed";
}

TEST_F(SrqTest, LimitFiresOnceWhenPostedWqesDropBelowItThenDisarms) {
  build();
  post_srq(10);
  srq->srq->arm_limit(5);
  EXPECT_EQ(srq->shm->limit.load(), 5u);
  uint32_t seq = 0;
  auto one_message = [&] {
    send(seq % kQps, seq);
    ++seq;
    net.run();
  };
  for (int k = 0; k < 5; ++k) one_message();  // 10 → 5 posted: not below 5
  EXPECT_EQ(srq->limit_events, 0u);
  EXPECT_EQ(srq->posted(), 5u);
  one_message();  // 4 < 5
  EXPECT_EQ(srq->limit_events, 1u);
  EXPECT_EQ(srq->srq->limit(), 0u) << "the event disarms the limit";
  EXPECT_EQ(srq->shm->limit.load(), 0u);
  one_message();
  EXPECT_EQ(srq->limit_events, 1u) << "once per arming";
  srq->srq->arm_limit(3);
  one_message();  // 2 < 3
  EXPECT_EQ(srq->limit_events, 2u);
  EXPECT_EQ(b_cq->drain().size(), 8u);
}

TEST_F(SrqTest, QpMovedToErrorReportsLastWqeReachedAndLeavesTheSrqAlone) {
  build();
  post_srq(8);
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_ERR;
  ASSERT_EQ(qb[0]->qp->modify(attr, IBV_QP_STATE), 0);
  EXPECT_EQ(events_of(qb[0]->qpn, IBV_EVENT_QP_LAST_WQE_REACHED), 1u);
  EXPECT_EQ(srq->posted(), 8u) << "an SRQ's WQEs are not the failed QP's to flush";
  EXPECT_TRUE(b_cq->drain().empty());

  // The other QPs go on taking from the SRQ.
  send(1, 0);
  send(2, 0);
  net.run();
  auto rc = b_cq->drain();
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[1].status, IBV_WC_SUCCESS);
  EXPECT_EQ(srq->posted(), 6u);
  EXPECT_EQ(events_of(qb[1]->qpn, IBV_EVENT_QP_LAST_WQE_REACHED), 0u);
}

TEST_F(SrqTest, QpFailingOnARemoteErrorAlsoReportsLastWqeReached) {
  build();
  post_srq(4);
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = dst.addr;
  w.rkey = 0xdeadbeef;  // no such R_Key on b
  qa[3]->post_send(w, {src.sge(0, 64)});
  net.run();
  EXPECT_EQ(events_of(qb[3]->qpn, IBV_EVENT_QP_ACCESS_ERR), 1u);
  EXPECT_EQ(events_of(qb[3]->qpn, IBV_EVENT_QP_LAST_WQE_REACHED), 1u);
  EXPECT_EQ(qb[3]->qp->state(), IBV_QPS_ERR);
  EXPECT_EQ(srq->posted(), 4u);
}

TEST_F(SrqTest, AReceiveInProgressIsFlushedWhenItsQpFails) {
  build();
  post_srq(4);
  send(0, 0, 3000);  // three packets at MTU 1024
  qa[0]->qp->poll(net.now(), 64);
  net.flush(0);
  ASSERT_EQ(net.wire().size(), 3u);
  net.deliver_one();  // only the First packet arrives: the WQE is taken
  EXPECT_EQ(srq->posted(), 3u);
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_ERR;
  ASSERT_EQ(qb[0]->qp->modify(attr, IBV_QP_STATE), 0);
  auto rc = b_cq->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 0u);
  EXPECT_EQ(rc[0].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(rc[0].qp_num, qb[0]->qpn);
  EXPECT_EQ(srq->posted(), 3u) << "only the WQE in use was the QP's";
}

TEST_F(SrqTest, EmptySrqMeansRnrUntilTheHostPosts) {
  build();
  send(2, 0);
  net.run(0);  // no time passes: the requester waits out its RNR timer
  EXPECT_GE(b.env.counters().naks_sent_rnr.get(), 1u);
  EXPECT_TRUE(b_cq->drain().empty());
  post_srq(1);
  net.run();
  auto rc = b_cq->drain();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[0].qp_num, qb[2]->qpn);
}

TEST_F(SrqTest, HostClaimingMoreSgesThanTheSlotHoldsGetsOnlyWhatFits) {
  build(8);
  // Write a WQE by hand that claims 200 SGEs in a 2-SGE slot.
  uint8_t* slot = srq->prod.slot();
  pipe::RecvWqe w{42, 200, 0};
  std::memcpy(slot, &w, sizeof w);
  pipe::Sge s = dst.sge(0, kSlotBytes);
  std::memcpy(slot + sizeof w, &s, sizeof s);
  std::memset(slot + sizeof w + sizeof s, 0, sizeof s);
  srq->prod.advance();
  srq->prod.publish();
  pipe::RecvWqe got{};
  pipe::Sge sges[pipe::DeviceCaps::kMaxSge];
  ASSERT_TRUE(srq->srq->take(got, sges, pipe::DeviceCaps::kMaxSge));
  EXPECT_EQ(got.wr_id, 42u);
  EXPECT_EQ(got.num_sge, 2u);
  EXPECT_EQ(sges[0].lkey, dst.lkey);
  EXPECT_FALSE(srq->srq->take(got, sges, pipe::DeviceCaps::kMaxSge));
}

}  // namespace
}  // namespace flexins::transport::test
