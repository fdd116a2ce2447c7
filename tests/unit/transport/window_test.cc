// The QPs of a worker share one outstanding-packet window (constants.h,
// window_pool.h): a fair share each, and whole messages reserved beyond it.
#include <gtest/gtest.h>

#include <cstring>

#include "harness.h"
#include "transport/constants.h"
#include "transport/window_pool.h"

namespace flexins::transport::test {
namespace {

TEST(Window, OneQpGetsTheFullWindowManyShareTheWorkers) {
  EXPECT_EQ(qp_window_packets(0), kMaxOutstandingPackets);
  EXPECT_EQ(qp_window_packets(1), kMaxOutstandingPackets);
  EXPECT_EQ(qp_window_packets(16), kWorkerOutstandingPackets / 16);
  EXPECT_EQ(qp_window_packets(256), kWorkerOutstandingPackets / 256);
  EXPECT_EQ(qp_window_packets(1u << 20), kMinOutstandingPackets) << "every QP keeps moving";
  for (uint32_t qps : {2u, 16u, 256u, 1024u})
    EXPECT_LE(uint64_t(qps) * qp_window_packets(qps), uint64_t(kWorkerOutstandingPackets));
  const WindowPool pool{.capacity = 32, .qps = 8};
  EXPECT_EQ(pool.fair_share(), 4u);
}

TEST(Window, AckRequestsComeAtLeastTwicePerWindow) {
  EXPECT_EQ(ack_req_interval(kMaxOutstandingPackets), kAckReqEveryPackets);
  EXPECT_EQ(ack_req_interval(8), 4u);
  EXPECT_EQ(ack_req_interval(1), 1u);
  EXPECT_EQ(ack_req_interval(0), 1u);
}

// A 16 KiB RDMA WRITE at MTU 1024 (16 packets) from A to B, A's QP one of
// eight sharing a 32-packet pool: a fair share of 4.
struct PoolFixture {
  WindowPool pool{.capacity = 32, .qps = 8};
  Fabric f;
  Buffer src, dst;
  static constexpr uint32_t kSize = 16 * 1024;

  PoolFixture() {
    f.a().env->pool = &pool;
    f.connect();
    src = f.a().reg(kSize);
    dst = f.b().reg(kSize);
    fill_pattern(src.data, kSize, 5);
  }
  void post(uint64_t wr_id = 1) {
    pipe::SendWqe w = make_wqe(wr_id, IBV_WR_RDMA_WRITE);
    w.remote_addr = dst.addr;
    w.rkey = dst.rkey;
    f.a().post_send(w, {src.sge(0, kSize)});
  }
  uint32_t ack_requests_on_wire() const {
    uint32_t n = 0;
    for (const WirePacket& p : const_cast<Fabric&>(f).wire()) n += p.to == 1 && p.parsed.bth.ack_req;
    return n;
  }
};

TEST(Window, AMessagePastTheFairShareLeavesWholeAndAsksForOneAck) {
  PoolFixture t;
  t.post();
  EXPECT_EQ(t.f.pump(0), 16u);
  EXPECT_EQ(t.ack_requests_on_wire(), 1u) << "the message's last packet only";
  EXPECT_EQ(t.pool.outstanding, 16u) << "the QP's claim";
  t.f.deliver_all();
  t.f.pump(1);
  t.f.deliver_all();
  t.f.pump(0);
  EXPECT_EQ(t.pool.outstanding, 0u) << "the ACK gave the claim back";
  ASSERT_EQ(t.f.a().send_cqes().size(), 1u);
  EXPECT_EQ(std::memcmp(t.dst.data, t.src.data, t.kSize), 0);
  EXPECT_GT(t.pool.releases, 0u);
}

TEST(Window, AReservedMessageFinishesThoughOthersFillThePool) {
  PoolFixture t;
  t.post();
  EXPECT_EQ(t.f.pump(0, 8), 8u);
  EXPECT_EQ(t.pool.outstanding, 16u) << "8 in flight and 8 reserved";
  t.pool.outstanding += 16;  // the other QPs take the rest
  EXPECT_EQ(t.f.pump(0), 8u) << "the rest of the message was reserved";
  EXPECT_EQ(t.ack_requests_on_wire(), 1u);
}

TEST(Window, AMessageStartedWithinTheShareFinishesWhenTheShareShrinks) {
  PoolFixture t;
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = t.dst.addr;
  w.rkey = t.dst.rkey;
  t.f.a().post_send(w, {t.src.sge(0, 4 * 1024)});  // 4 packets: the fair share
  EXPECT_EQ(t.f.pump(0, 2), 2u);
  EXPECT_EQ(t.pool.outstanding, 4u) << "2 in flight and 2 reserved";
  t.pool.qps = 16;           // QPs created meanwhile: the share is 2 now
  t.pool.outstanding += 28;  // and they fill the pool
  EXPECT_EQ(t.f.pump(0), 2u) << "the rest of the message was reserved";
  EXPECT_EQ(t.ack_requests_on_wire(), 1u);
}

TEST(Window, WithoutRoomForTheWholeMessageNothingLeavesUntilThereIs) {
  PoolFixture t;
  t.pool.outstanding = 20;  // the other QPs' claims: 12 left, the message needs 16
  t.post();
  EXPECT_EQ(t.f.pump(0), 0u) << "not 4 packets of the fair share, then a wait mid-message";
  EXPECT_TRUE(t.f.a().qp->waits_for_window_pool());
  EXPECT_FALSE(t.f.a().qp->has_tx_work());
  t.pool.outstanding = 16;  // ACKs of other QPs freed room
  EXPECT_FALSE(t.f.a().qp->waits_for_window_pool());
  EXPECT_EQ(t.f.pump(0), 16u);
  EXPECT_EQ(t.pool.outstanding, 32u);
  EXPECT_EQ(t.ack_requests_on_wire(), 1u);
}

TEST(Window, QpsInLineGoFirst) {
  PoolFixture t;
  t.pool.queue_first = true;  // others wait in line for the pool
  t.post();
  EXPECT_EQ(t.f.pump(0), 0u);
  EXPECT_TRUE(t.f.a().qp->waits_for_window_pool());
  t.pool.queue_first = false;  // its turn
  EXPECT_EQ(t.f.pump(0), 16u);
}

TEST(Window, AMessageWithinTheFairShareNeedsNoRoom) {
  PoolFixture t;
  t.pool.outstanding = t.pool.capacity;  // full
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = t.dst.addr;
  w.rkey = t.dst.rkey;
  t.f.a().post_send(w, {t.src.sge(0, 4 * 1024)});
  EXPECT_EQ(t.f.pump(0), 4u);
  EXPECT_FALSE(t.f.a().qp->waits_for_window_pool());
}

TEST(Window, AFixedShareSendsAMessageInPiecesAndAsksForAnAckAtEachPause) {
  PoolFixture t;
  t.pool.lend = false;  // the emulated fabric's hosts
  t.post();
  EXPECT_EQ(t.f.pump(0), 4u) << "the fair share";
  EXPECT_EQ(t.ack_requests_on_wire(), 1u) << "the share's last packet asks";
  uint32_t rounds = 1;
  while (t.f.a().send_cqes().empty() && rounds < 10) {
    t.f.deliver_all();
    t.f.pump(1);
    t.f.deliver_all();
    t.f.pump(0);
    ++rounds;
  }
  EXPECT_EQ(rounds, 5u) << "four pieces of 4 packets, then the completion";
  EXPECT_EQ(t.f.a().counters().retransmit_timeouts.get(), 0u);
}

TEST(Window, ResendsOfClaimedPacketsAreNeverHeldBack) {
  PoolFixture t;
  t.post();
  ASSERT_EQ(t.f.pump(0), 16u);
  t.f.wire().clear();               // all 16 lost
  t.pool.outstanding = 64;          // and the other QPs filled the pool meanwhile
  t.f.advance(100'000'000);         // past the 67 ms ACK timeout
  EXPECT_EQ(t.f.pump(0), 16u) << "go-back-N resends what the QP already claims";
  EXPECT_EQ(t.f.a().counters().retransmit_timeouts.get(), 1u);
}

TEST(Window, AQpThatGoesGivesItsClaimBack) {
  PoolFixture t;
  t.post();
  ASSERT_EQ(t.f.pump(0), 16u);
  EXPECT_EQ(t.pool.outstanding, 16u);
  t.f.a().qp.reset();
  EXPECT_EQ(t.pool.outstanding, 0u);
}

TEST(Window, AnErrorGivesTheClaimBack) {
  PoolFixture t;
  t.post();
  ASSERT_EQ(t.f.pump(0), 16u);
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_ERR;
  ASSERT_EQ(t.f.a().qp->modify(attr, IBV_QP_STATE), 0);
  EXPECT_EQ(t.pool.outstanding, 0u);
}

}  // namespace
}  // namespace flexins::transport::test
