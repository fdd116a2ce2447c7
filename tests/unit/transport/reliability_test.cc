// Loss recovery, narrated packet by packet: the test decides what the wire
// loses, duplicates or delays, lets each QP transmit, and checks what the
// other one sends back. PSNs start at 0xfffff0 (A → B) so every scenario
// also crosses the 24-bit PSN wrap.
#include <gtest/gtest.h>

#include <cstring>

#include "harness.h"
#include "transport/error_table.h"
#include "wire/packet.h"

namespace flexins::transport::test {
namespace {

constexpr uint32_t kAFirstPsn = 0xfffff0;  // Fabric::connect
constexpr uint32_t kBFirstPsn = 0x123456;


bool is_nak(const WirePacket& w, wire::NakCode code) {
  return w.parsed.bth.opcode == wire::kRcAcknowledge &&
         wire::ack_type(w.parsed.aeth.syndrome) == wire::AckType::kNak &&
         wire::syndrome_value(w.parsed.aeth.syndrome) == uint8_t(code);
}

// Drop, once, the first packet the filter matches.
std::function<bool(const WirePacket&)> drop_once(std::function<bool(const WirePacket&)> match) {
  auto done = std::make_shared<bool>(false);
  return [match, done](const WirePacket& w) {
    if (*done || !match(w)) return false;
    *done = true;
    return true;
  };
}

struct TenPacketSend : ::testing::Test {
  // A 10-packet SEND at MTU 256 from A to B.
  void SetUp() override {
    QpOptions o;
    o.mtu = IBV_MTU_256;
    f = std::make_unique<Fabric>(o, o);
    f->connect();
    src = f->a().reg(2560);
    fill_pattern(src.data, src.size, 123);
    dst = f->b().reg(2560);
    f->b().post_recv(1, {dst.sge(0, 2560)});
    f->b().post_recv(2, {dst.sge(0, 2560)});  // a spare: must stay unused
  }
  void post() { f->a().post_send(make_wqe(10, IBV_WR_SEND), {src.sge(0, 2560)}); }
  void expect_delivered_once() {
    auto sc = f->a().send_cqes();
    ASSERT_EQ(sc.size(), 1u);
    EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
    auto rc = f->b().recv_cqes();
    ASSERT_EQ(rc.size(), 1u) << "placed twice?";
    EXPECT_EQ(rc[0].wr_id, 1u);
    EXPECT_EQ(rc[0].byte_len, 2560u);
    EXPECT_EQ(std::memcmp(dst.data, src.data, 2560), 0);
  }
  std::unique_ptr<Fabric> f;
  Buffer src, dst;
};

TEST_F(TenPacketSend, LostMiddlePacketGetsOneSequenceNakThenGoBackN) {
  // The wire loses the 4th packet (PSN 0xfffff3).
  f->set_tx_filter(drop_once([](const WirePacket& w) { return w.parsed.bth.psn == 0xfffff3; }));
  post();
  EXPECT_EQ(f->pump(0), 10u);
  ASSERT_EQ(f->wire().size(), 9u);
  // B takes three in order, then sees 0xfffff4: one sequence NAK for the
  // gap, and the five after it are dropped without another NAK.
  f->deliver_all();
  EXPECT_EQ(f->b().counters().naks_sent_psn_sequence.get(), 1u);
  EXPECT_EQ(f->b().counters().rx_drop_out_of_sequence.get(), 6u);
  EXPECT_EQ(f->pump(1), 1u);
  ASSERT_EQ(f->wire().size(), 1u);
  EXPECT_TRUE(is_nak(f->wire().front(), wire::NakCode::kPsnSequenceError));
  EXPECT_EQ(f->wire().front().parsed.bth.psn, 0xfffff3u);  // the PSN B expects
  // A goes back to 0xfffff3 at once (no timeout) and resends 7 packets.
  f->deliver_all();
  EXPECT_EQ(f->a().counters().naks_received_psn_sequence.get(), 1u);
  EXPECT_EQ(f->pump(0), 7u);
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 7u);
  EXPECT_EQ(f->wire().front().parsed.bth.psn, 0xfffff3u);
  EXPECT_EQ(f->wire().front().parsed.bth.opcode, wire::kRcSendMiddle);
  f->run();
  expect_delivered_once();
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 0u);
}

TEST_F(TenPacketSend, LostLastPacketIsResentWhenTheTimerFires) {
  f->set_tx_filter(drop_once([](const WirePacket& w) { return w.parsed.bth.psn == 0xfffff9; }));
  post();
  f->pump(0);
  f->deliver_all();
  // B got 9 packets without AckReq: it stays silent.
  EXPECT_EQ(f->pump(1), 0u);
  EXPECT_EQ(f->b().counters().acks_sent.get(), 0u);
  // A's retransmit timer is 4.096 us * 2^14 = 67 ms away.
  const uint64_t deadline = f->a().qp->next_deadline();
  EXPECT_EQ(deadline, f->now() + (4096ull << 14));
  f->advance(deadline - f->now() - 1);
  EXPECT_EQ(f->pump(0), 0u) << "not yet";
  f->advance(1);
  // Timeout: go back to the oldest unacknowledged PSN (the whole message).
  EXPECT_EQ(f->pump(0), 10u);
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 1u);
  f->run();
  expect_delivered_once();
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 9u);
}

TEST_F(TenPacketSend, LostAckMeansDuplicateRequestsThatAreReAckedNotReplaced) {
  f->set_tx_filter(drop_once(
      [](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcAcknowledge; }));
  post();
  f->run(50'000'000);  // less than the timeout: the ACK was lost, A waits
  EXPECT_TRUE(f->a().send_cqes().empty());
  EXPECT_EQ(f->b().recv_cqes().size(), 1u);
  f->run();  // the timer fires, A resends, B re-ACKs the duplicates
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 1u);
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 10u);
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_TRUE(f->b().recv_cqes().empty()) << "the spare receive must not be consumed";
}

TEST_F(TenPacketSend, DestroyedResponderStillAcknowledgesDuplicatesFromItsTombstone) {
  // B's ACK is lost, and B's application, having its completion, destroys
  // the QP. A retransmits; B's tombstone ACKs the duplicates, so A completes
  // instead of ending in "retry counter exceeded".
  f->set_tx_filter(drop_once(
      [](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcAcknowledge; }));
  post();
  f->run(50'000'000);
  ASSERT_EQ(f->b().recv_cqes().size(), 1u);
  ASSERT_TRUE(f->a().send_cqes().empty());
  Tombstone t;
  ASSERT_TRUE(f->b().qp->tombstone(t));
  EXPECT_EQ(t.dest_qpn, f->a().qpn);
  f->b().qp.reset();  // destroyed

  f->advance(100'000'000);  // past A's retransmit timeout
  EXPECT_EQ(f->pump(0), 10u);
  uint32_t answered = 0;
  for (size_t n = f->wire().size(); n > 0; --n) {
    WirePacket w = std::move(f->wire().front());
    f->wire().pop_front();
    ASSERT_EQ(w.to, 1);
    wire::parse(w.bytes, w.parsed);
    answered += tombstone_answer(*f->b().env, t, w.parsed, f->a().ip);
  }
  EXPECT_EQ(answered, 10u);
  EXPECT_EQ(f->b().counters().tombstone_acks.get(), 10u);
  f->deliver_all();
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
}

// A timeout sends A back over a message whose ACK was only late. The ACK
// then completes the message while the go-back-N walk is in its middle, and
// the host posts the next message into the freed slot of its one-deep send
// queue. The walk must move up to what the ACK acknowledges, not carry on
// with the old message's PSNs over the new WQE (rc_pingpong under injected
// loss died this way: "cannot gather", QP fatal, its SEND flushed).
TEST(Reliability, AckArrivingMidResendMovesTheWalkPastTheCompletedMessage) {
  QpOptions oa;
  oa.mtu = IBV_MTU_256;
  oa.sq_depth = 1;
  QpOptions ob;
  ob.mtu = IBV_MTU_256;
  Fabric f(oa, ob);
  f.connect();
  Buffer src = f.a().reg(2 * 2560);
  fill_pattern(src.data, src.size, 7);
  Buffer dst = f.b().reg(2 * 2560);
  f.b().post_recv(1, {dst.sge(0, 2560)});
  f.b().post_recv(2, {dst.sge(2560, 2560)});

  f.a().post_send(make_wqe(10, IBV_WR_SEND), {src.sge(0, 2560)});
  EXPECT_EQ(f.pump(0), 10u);
  f.deliver_all();
  EXPECT_EQ(f.pump(1), 1u);  // B's ACK, still on the wire
  // A's timer fires before the ACK arrives: it starts over, 3 packets in.
  f.advance(f.a().qp->next_deadline() - f.now());
  EXPECT_EQ(f.pump(0, 3), 3u);
  f.deliver_one();  // the ACK: message 10 complete
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  f.a().post_send(make_wqe(11, IBV_WR_SEND), {src.sge(2560, 2560)});
  f.run();
  EXPECT_EQ(f.a().counters().tx_errors.get(), 0u);
  EXPECT_EQ(f.a().counters().qp_errors.get(), 0u);
  sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].wr_id, 11u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_EQ(rc[1].wr_id, 2u);
  EXPECT_EQ(std::memcmp(dst.data, src.data, 2 * 2560), 0);
}

TEST(Tombstone, AnswersOnlyDuplicateSendsAndWritesFromThePeer) {
  Fabric f;
  f.connect();
  Tombstone t;
  ASSERT_TRUE(f.b().qp->tombstone(t));
  auto request = [&](uint8_t opcode, uint32_t psn) {
    wire::Packet p;
    p.bth.opcode = opcode;
    p.bth.psn = psn;
    return p;
  };
  Env& env = *f.b().env;
  const uint32_t peer = f.a().ip;
  const uint32_t before = wire::psn_add(t.epsn, wire::kPsnMask);
  EXPECT_TRUE(tombstone_answer(env, t, request(wire::kRcSendOnly, before), peer));
  EXPECT_TRUE(tombstone_answer(env, t, request(wire::kRcWriteLast, before), peer));
  EXPECT_FALSE(tombstone_answer(env, t, request(wire::kRcSendOnly, t.epsn), peer)) << "never executed";
  EXPECT_FALSE(tombstone_answer(env, t, request(wire::kRcReadRequest, before), peer)) << "nothing to replay";
  EXPECT_FALSE(tombstone_answer(env, t, request(wire::kRcFetchAdd, before), peer));
  EXPECT_FALSE(tombstone_answer(env, t, request(wire::kRcAcknowledge, before), peer)) << "not a request";
  EXPECT_FALSE(tombstone_answer(env, t, request(wire::kRcSendOnly, before), peer + 1)) << "not the peer";
  ASSERT_EQ(f.wire().size(), 2u);
  const wire::Packet& ack = f.wire().front().parsed;
  EXPECT_EQ(ack.bth.opcode, wire::kRcAcknowledge);
  EXPECT_EQ(ack.bth.dest_qp, f.a().qpn);
  EXPECT_EQ(ack.bth.psn, before);
}

TEST(Tombstone, NoneForAQpThatNeverConnected) {
  Fabric f;  // not connected: RESET
  Tombstone t;
  EXPECT_FALSE(f.b().qp->tombstone(t));
}

TEST_F(TenPacketSend, DuplicatedPacketIsDroppedAndItsExtraAckIsAGhost) {
  post();
  f->pump(0);
  // The wire duplicates the last packet after the whole message.
  WirePacket copy = f->wire().back();
  wire::parse(copy.bytes, copy.parsed);
  f->deliver_all();
  f->pump(1);  // ACK for 0xfffff9
  f->wire().push_back(std::move(copy));
  f->deliver_all();  // A completes; B sees the duplicate
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 1u);
  f->pump(1);  // B re-ACKs
  f->deliver_all();
  EXPECT_EQ(f->a().counters().rx_drop_ghost_response.get(), 1u);
  expect_delivered_once();
}

TEST(Reliability, LostReadResponseIsRequestedAgainFromWhereItStopped) {
  QpOptions o;
  o.mtu = IBV_MTU_256;
  Fabric f(o, o);
  f.connect();
  Buffer remote = f.b().reg(1024);
  fill_pattern(remote.data, 1024, 3);
  Buffer local = f.a().reg(1024);
  pipe::SendWqe r = make_wqe(1, IBV_WR_RDMA_READ);
  r.remote_addr = remote.addr;
  r.rkey = remote.rkey;
  // The second of four response packets is lost.
  f.set_tx_filter(drop_once([](const WirePacket& w) {
    return w.parsed.bth.opcode == wire::kRcReadResponseMiddle && w.parsed.bth.psn == 0xfffff1;
  }));
  f.a().post_send(r, {local.sge(0, 1024)});
  f.pump(0);
  f.deliver_all();
  EXPECT_EQ(f.pump(1), 4u);
  ASSERT_EQ(f.wire().size(), 3u);
  f.deliver_all();
  // A saw First, then Middle 0xfffff2: it asks again from 0xfffff1 for the
  // remaining 768 bytes (IBA 9.7.4.1.4).
  EXPECT_EQ(f.pump(0), 1u);
  ASSERT_EQ(f.wire().size(), 1u);
  const wire::Packet& again = f.wire().front().parsed;
  EXPECT_EQ(again.bth.opcode, wire::kRcReadRequest);
  EXPECT_EQ(again.bth.psn, 0xfffff1u);
  EXPECT_EQ(again.reth.va, remote.addr + 256);
  EXPECT_EQ(again.reth.dma_length, 768u);
  f.deliver_all();
  // B: a duplicate READ, served again from the replay record.
  EXPECT_EQ(f.b().counters().read_responses_replayed.get(), 1u);
  EXPECT_EQ(f.pump(1), 3u);
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(std::memcmp(local.data, remote.data, 1024), 0);
}

TEST(Reliability, OldDuplicateReadRequestIsReplayedAndTheResponsesAreGhosts) {
  Fabric f;
  f.connect();
  Buffer remote = f.b().reg(3000);
  fill_pattern(remote.data, 3000, 8);
  Buffer local = f.a().reg(3000);
  pipe::SendWqe r = make_wqe(1, IBV_WR_RDMA_READ);
  r.remote_addr = remote.addr;
  r.rkey = remote.rkey;
  f.a().post_send(r, {local.sge(0, 3000)});
  f.pump(0);
  WirePacket request = f.wire().front();
  wire::parse(request.bytes, request.parsed);
  f.run();
  ASSERT_EQ(f.a().send_cqes().size(), 1u);
  // An old duplicate of the READ request arrives late.
  f.wire().push_back(std::move(request));
  f.deliver_all();
  EXPECT_EQ(f.b().counters().duplicate_requests.get(), 1u);
  EXPECT_EQ(f.b().counters().read_responses_replayed.get(), 1u);
  EXPECT_EQ(f.pump(1), 3u);  // the whole response again, from B's region
  f.deliver_all();
  EXPECT_EQ(f.a().counters().rx_drop_ghost_response.get(), 3u);
  EXPECT_TRUE(f.a().send_cqes().empty());
}

TEST(Reliability, DuplicateAtomicIsAnsweredFromTheCacheNotExecutedTwice) {
  Fabric f;
  f.connect();
  Buffer remote = f.b().reg(8);
  std::memset(remote.data, 0, 8);
  Buffer local = f.a().reg(8);
  pipe::SendWqe faa = make_wqe(1, IBV_WR_ATOMIC_FETCH_AND_ADD);
  faa.remote_addr = remote.addr;
  faa.rkey = remote.rkey;
  faa.compare_add = 1;
  // The atomic ACK is lost: A times out and sends the FetchAdd again.
  f.set_tx_filter(drop_once(
      [](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcAtomicAcknowledge; }));
  f.a().post_send(faa, {local.sge(0, 8)});
  f.run();
  EXPECT_EQ(f.a().counters().retransmit_timeouts.get(), 1u);
  EXPECT_EQ(f.b().counters().duplicate_requests.get(), 1u);
  uint64_t v;
  std::memcpy(&v, remote.data, 8);
  EXPECT_EQ(v, 1u) << "executed twice";
  std::memcpy(&v, local.data, 8);
  EXPECT_EQ(v, 0u);
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
}

TEST(Rnr, SendBeforeReceiveIsRnrNakedThenSucceedsAfterTheRnrTimer) {
  QpOptions o;
  o.min_rnr_timer = 14;  // 1.28 ms (IBA table 45)
  Fabric f(o, o);
  f.connect();
  Buffer src = f.a().reg(100);
  fill_pattern(src.data, 100, 1);
  Buffer dst = f.b().reg(100);
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 100)});
  f.pump(0);
  f.deliver_all();
  // No receive posted: B answers with an RNR NAK carrying its timer.
  EXPECT_EQ(f.b().counters().naks_sent_rnr.get(), 1u);
  f.pump(1);
  ASSERT_EQ(f.wire().size(), 1u);
  const wire::Packet& nak = f.wire().front().parsed;
  EXPECT_EQ(wire::ack_type(nak.aeth.syndrome), wire::AckType::kRnrNak);
  EXPECT_EQ(wire::syndrome_value(nak.aeth.syndrome), 14);
  EXPECT_EQ(nak.bth.psn, kAFirstPsn);
  f.deliver_all();
  EXPECT_EQ(f.a().counters().naks_received_rnr.get(), 1u);
  // A waits out the RNR timer: nothing to send, the deadline is 1.28 ms away.
  EXPECT_FALSE(f.a().qp->has_tx_work());
  EXPECT_EQ(f.a().qp->next_deadline(), f.now() + rnr_timer_ns(14));
  EXPECT_EQ(f.pump(0), 0u);
  f.b().post_recv(5, {dst.sge(0, 100)});
  f.advance(rnr_timer_ns(14));
  EXPECT_EQ(f.pump(0), 1u);
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(std::memcmp(dst.data, src.data, 100), 0);
}

TEST(Rnr, RetryCountExhaustedFailsTheWqeAndFlushesTheRest) {
  QpOptions o;
  o.rnr_retry = 2;
  Fabric f(o, o);
  f.connect();
  Buffer src = f.a().reg(100);
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 100)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {src.sge(0, 100)});
  f.run();
  // One try and two retries, each RNR NAKed; the third NAK fails the WQE.
  EXPECT_EQ(f.a().counters().naks_received_rnr.get(), 3u);
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_RNR_RETRY_EXC_ERR);
  EXPECT_EQ(sc[1].wr_id, 2u);
  EXPECT_EQ(sc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
  EXPECT_EQ(f.a().counters().completions_error.get(), 2u);
  EXPECT_EQ(f.b().qp->state(), IBV_QPS_RTS) << "RNR is not an error for the responder";
}

TEST(Rnr, RnrRetrySevenRetriesForever) {
  QpOptions o;
  o.rnr_retry = 7;
  o.min_rnr_timer = 1;
  Fabric f(o, o);
  f.connect();
  Buffer src = f.a().reg(100);
  Buffer dst = f.b().reg(100);
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 100)});
  f.run(5'000'000);  // 5 ms of 10 us RNR waits: hundreds of NAKs
  EXPECT_GT(f.a().counters().naks_received_rnr.get(), 100u);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_RTS);
  f.b().post_recv(1, {dst.sge(0, 100)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
}

TEST(Retry, PeerGoneExhaustsRetryCountThenEveryWqeIsFlushed) {
  QpOptions o;
  o.retry_cnt = 3;
  o.timeout = 10;  // 4.2 ms
  Fabric f(o, o);
  f.connect();
  // B is gone: nothing from A arrives.
  f.set_tx_filter([](const WirePacket& w) { return w.to == 1; });
  Buffer src = f.a().reg(5000);
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 5000)});
  pipe::SendWqe w = make_wqe(2, IBV_WR_RDMA_WRITE, 0);  // unsignaled: flushed all the same
  w.rkey = 1;
  f.a().post_send(w, {src.sge(0, 10)});
  f.a().post_send(make_wqe(3, IBV_WR_SEND), {src.sge(0, 10)});
  f.run();
  EXPECT_EQ(f.a().counters().retransmit_timeouts.get(), 4u);  // 3 retries, then give up
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 3u);
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_RETRY_EXC_ERR);
  EXPECT_EQ(sc[1].wr_id, 2u);
  EXPECT_EQ(sc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(sc[2].wr_id, 3u);
  EXPECT_EQ(sc[2].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
  EXPECT_EQ(f.a().shm->state.load(), uint32_t(IBV_QPS_ERR));
  EXPECT_EQ(f.a().counters().qp_errors.get(), 1u);
  EXPECT_EQ(f.a().qp->next_deadline(), UINT64_MAX);
  // Later posts complete flushed; receives too.
  Buffer rb = f.a().reg(10);
  f.a().post_recv(8, {rb.sge(0, 10)});
  f.a().post_send(make_wqe(4, IBV_WR_SEND), {src.sge(0, 10)});
  sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_WR_FLUSH_ERR);
  auto rc = f.a().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().shm->sq.consumer.value.load(), f.a().shm->sq.producer.value.load());
}

TEST(Retry, TimeoutZeroIsInfiniteButStillProbes) {
  QpOptions o;
  o.timeout = 0;
  o.retry_cnt = 1;
  Fabric f(o, o);
  f.connect();
  int dropped = 0;
  f.set_tx_filter([&](const WirePacket& w) { return w.to == 1 && dropped++ < 5; });
  Buffer src = f.a().reg(10);
  Buffer dst = f.b().reg(10);
  f.b().post_recv(1, {dst.sge(0, 10)});
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 10)});
  f.run();
  EXPECT_EQ(f.a().counters().retransmit_timeouts.get(), 5u);
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS) << "timeout 0 never gives up";
}

TEST(Responder, MiddleWithoutFirstIsAnInvalidRequest) {
  Fabric f;
  f.connect();
  Buffer dst = f.b().reg(4096);
  f.b().post_recv(1, {dst.sge(0, 4096)});
  wire::Packet p;
  p.bth.opcode = wire::kRcSendMiddle;
  p.bth.psn = kAFirstPsn;  // the PSN B expects
  f.inject(0, p, std::vector<uint8_t>(1024, 0xab));
  f.deliver_all();
  EXPECT_EQ(f.b().counters().naks_sent_invalid_request.get(), 1u);
  ASSERT_EQ(f.wire().size(), 1u);
  EXPECT_TRUE(is_nak(f.wire().front(), wire::NakCode::kInvalidRequest));
  // Invalid request is fatal for the responder (IBA class B): ERR, event,
  // the posted receive flushed.
  EXPECT_EQ(f.b().qp->state(), IBV_QPS_ERR);
  ASSERT_EQ(f.b().env->events.size(), 1u);
  EXPECT_EQ(f.b().env->events[0], IBV_EVENT_QP_REQ_ERR);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_WR_FLUSH_ERR);
}

TEST(Responder, GhostAckAndWrongPeerAreDroppedAndCounted) {
  Fabric f;
  f.connect();
  wire::Packet ack;
  ack.bth.opcode = wire::kRcAcknowledge;
  ack.bth.psn = 0x777;
  f.inject(1, ack);
  f.deliver_all();
  EXPECT_EQ(f.a().counters().rx_drop_ghost_response.get(), 1u);
  // A request from someone who is not A's peer.
  wire::Packet req;
  req.bth.opcode = wire::kRcSendOnly;
  req.bth.psn = kBFirstPsn;
  f.inject(1, req, {1, 2, 3});
  f.wire().back().src_ip ^= 0x01000000;  // not B (the ICRC no longer matches either)
  WirePacket w = f.wire().back();
  f.wire().pop_back();
  wire::Packet parsed;
  ASSERT_EQ(wire::parse(w.bytes, parsed), wire::ParseError::kOk);
  RxMeta meta;
  meta.src_ip = w.src_ip;
  f.a().qp->on_packet(parsed, meta);
  EXPECT_EQ(f.a().counters().rx_drop_misaddressed.get(), 1u);
}

}  // namespace
}  // namespace flexins::transport::test
