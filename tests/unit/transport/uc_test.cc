// Unreliable Connected QPs: SEND and RDMA WRITE (with and without
// immediate) segmented like RC but with UC opcodes, completed at the sender
// once on the wire, never acknowledged or resent; at the receiver a message
// that lost a packet, or that the checks refuse, is dropped whole and
// counted, its receive WQE stays posted, and the next First/Only packet
// starts the next message. Driven packet by packet over the two-QP Fabric
// (harness.h). PSNs start at 0xfffff0 (A → B), so messages cross the
// 24-bit wrap.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "harness.h"
#include "transport/constants.h"
#include "wire/opcodes.h"

namespace flexins::transport::test {
namespace {

constexpr uint32_t kAFirstPsn = 0xfffff0;  // Fabric::connect

QpOptions uc_options(ibv_mtu mtu = IBV_MTU_1024) {
  QpOptions o;
  o.type = IBV_QPT_UC;
  o.mtu = mtu;
  o.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
  return o;
}

// Drops every packet whose PSN is in `psns` (each one once).
std::function<bool(const WirePacket&)> lose_psns(std::set<uint32_t> psns) {
  auto left = std::make_shared<std::set<uint32_t>>(std::move(psns));
  return [left](const WirePacket& w) { return left->erase(w.parsed.bth.psn) > 0; };
}

bool is_uc_opcode(uint8_t op) { return wire::opcode_info(op).transport == wire::Transport::kUc; }

// Nothing ever travels from B back to A: UC has no ACKs, NAKs or responses.
void expect_nothing_sent_back(Fabric& f) {
  for (const auto& [op, n] : f.sent_by_opcode) EXPECT_TRUE(is_uc_opcode(op)) << "opcode " << int(op);
  EXPECT_EQ(f.b().counters().acks_sent.get(), 0u);
  EXPECT_EQ(f.b().counters().naks_sent_psn_sequence.get() + f.b().counters().naks_sent_rnr.get() +
                f.b().counters().naks_sent_invalid_request.get() +
                f.b().counters().naks_sent_remote_access.get(),
            0u);
}

struct UcFabric : ::testing::Test {
  void make(ibv_mtu mtu = IBV_MTU_1024, bool srq = false, uint32_t depth = 256) {
    QpOptions o = uc_options(mtu);
    o.use_srq = srq;
    o.sq_depth = o.rq_depth = depth;
    f = std::make_unique<Fabric>(o, o);
    f->connect();
  }
  std::unique_ptr<Fabric> f;
};

// ------------------------------------------------------------ SEND / WRITE
// (Every size and MTU, with and without immediate data, runs for RC and UC
// in send_recv_test.cc and rdma_test.cc.)

TEST_F(UcFabric, SendCompletesOnceOnTheWireWithoutWaitingForTheReceiver) {
  make(IBV_MTU_256);
  Buffer src = f->a().reg(1000);
  f->a().post_send(make_wqe(7, IBV_WR_SEND), {src.sge(0, 1000)});
  // One transmit pass: four packets leave, and the WQE is complete before
  // B has seen any of them. Nothing is armed: no timer, no more work.
  EXPECT_EQ(f->pump(0), 4u);
  ASSERT_EQ(f->wire().size(), 4u);
  for (const WirePacket& w : f->wire()) EXPECT_FALSE(w.parsed.bth.ack_req) << "UC asks for no ACK";
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(f->a().qp->next_deadline(), UINT64_MAX);
  EXPECT_FALSE(f->a().qp->has_tx_work());
  // B has no receive WQE: the message is dropped there, and A never hears of it.
  f->run();
  EXPECT_EQ(f->b().counters().rx_drop_no_recv_wqe.get(), 1u);
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 1u);
  EXPECT_EQ(f->b().counters().rx_drop_out_of_sequence.get(), 3u);  // the rest of it
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
  EXPECT_TRUE(f->b().recv_cqes().empty());
  EXPECT_TRUE(f->a().send_cqes().empty());
  expect_nothing_sent_back(*f);
}

TEST_F(UcFabric, ManySendsStreamWithoutAWindow) {
  // 2000 packets in flight at once: UC waits for nothing, so the requester
  // is bounded only by the poll budget, not by a window of unacknowledged PSNs.
  make(IBV_MTU_256, false, 2048);
  Buffer src = f->a().reg(256);
  for (int i = 0; i < 2000; ++i) f->a().post_send(make_wqe(i, IBV_WR_SEND, 0), {src.sge(0, 256)});
  uint32_t sent = 0;
  while (uint32_t n = f->pump(0, 500)) sent += n;
  EXPECT_EQ(sent, 2000u);
  EXPECT_EQ(f->a().shm->sq.consumer.value.load(), 2000u);  // every slot retired
  EXPECT_TRUE(f->a().send_cqes().empty());                // unsignaled
}

TEST_F(UcFabric, ZeroLengthSendAndWriteWithImmediateNeedNoKey) {
  make();
  Buffer rbuf = f->b().reg(64);
  f->b().post_recv(1, {rbuf.sge(0, 64)});
  f->b().post_recv(2, {rbuf.sge(0, 64)});
  f->a().post_send(make_wqe(1, IBV_WR_SEND), {});
  pipe::SendWqe w = make_wqe(2, IBV_WR_RDMA_WRITE_WITH_IMM);
  w.rkey = 0xdeadbeef;  // IBA: a zero-length RDMA does not check the R_Key
  w.imm_data = htonl(77);
  f->a().post_send(w, {});
  f->run();
  EXPECT_EQ(f->a().send_cqes().size(), 2u);
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_EQ(rc[0].opcode, IBV_WC_RECV);
  EXPECT_EQ(rc[0].byte_len, 0u);
  EXPECT_EQ(rc[1].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
  EXPECT_EQ(rc[1].imm_data, htonl(77));
  EXPECT_EQ(f->sent_by_opcode[wire::kUcSendOnly], 1u);
  EXPECT_EQ(f->sent_by_opcode[wire::kUcWriteOnlyImm], 1u);
  expect_nothing_sent_back(*f);
}

// ------------------------------------------------------------- lost packets

TEST_F(UcFabric, LostMiddlePacketDropsThatSendOnlyAndTheNextIsDelivered) {
  make(IBV_MTU_1024);
  // Message 1: 4 packets (PSN 0xfffff0..f3); message 2: 3 packets (f4..f6).
  Buffer m1 = f->a().reg(4000), m2 = f->a().reg(2500);
  fill_pattern(m1.data, m1.size, 1);
  fill_pattern(m2.data, m2.size, 2);
  Buffer d1 = f->b().reg(4096), d2 = f->b().reg(4096);
  f->b().post_recv(71, {d1.sge(0, 4096)});
  f->b().post_recv(72, {d2.sge(0, 4096)});
  f->set_tx_filter(lose_psns({kAFirstPsn + 1}));  // the first Middle of message 1
  f->a().post_send(make_wqe(1, IBV_WR_SEND), {m1.sge(0, 4000)});
  f->a().post_send(make_wqe(2, IBV_WR_SEND), {m2.sge(0, 2500)});
  f->run();

  // The sender cannot know: both complete successfully.
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[1].status, IBV_WC_SUCCESS);
  // Message 1 is gone; message 2 landed in the receive WQE message 1 had
  // begun to fill (it was not consumed), and the second WQE is still posted.
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 71u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[0].byte_len, 2500u);
  EXPECT_EQ(std::memcmp(d1.data, m2.data, 2500), 0);
  Counters& cb = f->b().counters();
  EXPECT_EQ(cb.uc_messages_dropped.get(), 1u);
  EXPECT_EQ(cb.rx_drop_out_of_sequence.get(), 2u);  // the two packets after the gap
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
  expect_nothing_sent_back(*f);

  // The spare WQE takes the next message.
  f->set_tx_filter(nullptr);
  f->a().post_send(make_wqe(3, IBV_WR_SEND), {m1.sge(0, 4000)});
  f->run();
  rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 72u);
  EXPECT_EQ(rc[0].byte_len, 4000u);
  EXPECT_EQ(std::memcmp(d2.data, m1.data, 4000), 0);
  EXPECT_EQ(cb.uc_messages_dropped.get(), 1u);
}

TEST_F(UcFabric, LostFirstOrLastPacketDropsOnlyItsMessage) {
  make(IBV_MTU_256);
  // Three 3-packet SENDs: lose the First of #1 (PSN f0) and the Last of #2
  // (PSN f5); #3 must arrive whole, alone.
  Buffer src[3];
  for (int i = 0; i < 3; ++i) {
    src[i] = f->a().reg(700);
    fill_pattern(src[i].data, 700, 10 + i);
  }
  Buffer dst = f->b().reg(3 * 1024);
  for (int i = 0; i < 3; ++i) f->b().post_recv(80 + i, {dst.sge(1024 * i, 1024)});
  f->set_tx_filter(lose_psns({kAFirstPsn, kAFirstPsn + 5}));
  for (int i = 0; i < 3; ++i) f->a().post_send(make_wqe(i, IBV_WR_SEND), {src[i].sge(0, 700)});
  f->run();
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  // #1 never took a WQE (its First was lost); #2 took 80 and lost its end;
  // #3 was placed into 80 from its start.
  EXPECT_EQ(rc[0].wr_id, 80u);
  EXPECT_EQ(rc[0].byte_len, 700u);
  EXPECT_EQ(std::memcmp(dst.data, src[2].data, 700), 0);
  Counters& cb = f->b().counters();
  EXPECT_EQ(cb.uc_messages_dropped.get(), 2u);
  // #1's Middle (after the gap) and Last; #2's loss shows only when #3's First arrives.
  EXPECT_EQ(cb.rx_drop_out_of_sequence.get(), 2u);
  EXPECT_EQ(f->a().send_cqes().size(), 3u);
}

TEST_F(UcFabric, LostMiddleOfAWriteWithImmediateDropsItsCompletionOnly) {
  make(IBV_MTU_1024);
  Buffer src = f->a().reg(3000);
  fill_pattern(src.data, 3000, 5);
  Buffer remote = f->b().reg(3000);
  Buffer rbuf = f->b().reg(8);
  f->b().post_recv(1, {rbuf.sge(0, 8)});
  f->set_tx_filter(lose_psns({kAFirstPsn + 1}));
  for (uint32_t i = 0; i < 2; ++i) {
    pipe::SendWqe w = make_wqe(i, IBV_WR_RDMA_WRITE_WITH_IMM);
    w.remote_addr = remote.addr;
    w.rkey = remote.rkey;
    w.imm_data = htonl(100 + i);
    f->a().post_send(w, {src.sge(0, 3000)});
  }
  f->run();
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
  EXPECT_EQ(rc[0].imm_data, htonl(101));  // the second WRITE's
  EXPECT_EQ(std::memcmp(remote.data, src.data, 3000), 0);
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 1u);
}

TEST_F(UcFabric, DuplicatedAndLatePacketsAreDroppedNotDeliveredTwice) {
  make(IBV_MTU_1024);
  Buffer src = f->a().reg(100);
  fill_pattern(src.data, 100, 9);
  Buffer dst = f->b().reg(4 * 128);
  for (int i = 0; i < 4; ++i) f->b().post_recv(i, {dst.sge(128 * i, 128)});
  f->a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 100)});
  f->pump(0);
  ASSERT_EQ(f->wire().size(), 1u);
  WirePacket copy = f->wire().front();
  f->deliver_all();
  // The network hands B the same SEND Only again.
  wire::Packet again = copy.parsed;
  f->inject(0, again, std::vector<uint8_t>(src.data, src.data + 100));
  f->deliver_all();
  EXPECT_EQ(f->b().recv_cqes().size(), 1u);
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 1u);
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
}

TEST_F(UcFabric, ASenderStartingOverFarBehindIsFollowed) {
  // B expects kAFirstPsn. Packets a little behind are late copies (dropped,
  // above); a message far behind means A's QP started over with a new PSN
  // (no resend exists on UC): B takes its First/Only as a new message.
  make(IBV_MTU_256);
  Buffer dst = f->b().reg(512);
  f->b().post_recv(1, {dst.sge(0, 512)});
  const uint32_t restart = wire::psn_add(kAFirstPsn, wire::kPsnMask + 1 - (kUcLatePsnWindow + 1));
  wire::Packet first;
  first.bth.opcode = wire::kUcSendFirst;
  first.bth.psn = restart;
  f->inject(0, first, std::vector<uint8_t>(256, 1));
  wire::Packet last = first;
  last.bth.opcode = wire::kUcSendLast;
  last.bth.psn = wire::psn_add(restart, 1);
  f->inject(0, last, std::vector<uint8_t>(10, 2));
  f->deliver_all();
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, 266u);
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 0u);
  // ... and follows it from there: a copy of that Last is now a late one.
  f->inject(0, last, std::vector<uint8_t>(10, 2));
  f->deliver_all();
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 1u);
  EXPECT_TRUE(f->b().recv_cqes().empty());
}

TEST_F(UcFabric, RandomLossNeverDeliversAWrongOrPartialMessage) {
  make(IBV_MTU_256, false, 512);
  // 300 SENDs of 1..4 packets at 5 % loss. Every message tagged with its
  // number: whatever arrives must be whole, intact, and in order.
  f->set_faults(Faults{0.05, 0, 0});
  constexpr int kMsgs = 300;
  Buffer src = f->a().reg(kMsgs * 1024);
  Buffer dst = f->b().reg(kMsgs * 1024);
  for (int i = 0; i < kMsgs; ++i) {
    fill_pattern(src.data + 1024 * i, 1024, uint32_t(i));
    std::memcpy(src.data + 1024 * i, &i, sizeof i);
    f->b().post_recv(uint64_t(i), {dst.sge(1024 * uint64_t(i), 1024)});
  }
  for (int i = 0; i < kMsgs; ++i) {
    const uint32_t len = 256u * uint32_t(1 + i % 4) - uint32_t(i % 3);
    f->a().post_send(make_wqe(uint64_t(i), IBV_WR_SEND), {src.sge(1024 * uint64_t(i), len)});
    f->run();
  }
  EXPECT_EQ(f->a().send_cqes().size(), size_t(kMsgs));
  auto rc = f->b().recv_cqes();
  ASSERT_GT(rc.size(), size_t(kMsgs / 2));
  ASSERT_LT(rc.size(), size_t(kMsgs));
  int last = -1;
  for (size_t k = 0; k < rc.size(); ++k) {
    const pipe::Cqe& c = rc[k];
    ASSERT_EQ(c.status, IBV_WC_SUCCESS);
    EXPECT_EQ(c.wr_id, k) << "receive WQEs are used in order, none skipped";
    int msg = -1;
    std::memcpy(&msg, dst.data + 1024 * c.wr_id, sizeof msg);
    ASSERT_GT(msg, last) << "out of order or twice";
    last = msg;
    const uint32_t len = 256u * uint32_t(1 + msg % 4) - uint32_t(msg % 3);
    ASSERT_EQ(c.byte_len, len);
    ASSERT_EQ(std::memcmp(dst.data + 1024 * c.wr_id, src.data + 1024 * msg, len), 0) << msg;
  }
  // Every message with a lost packet that reached B in part was counted.
  EXPECT_GT(f->b().counters().uc_messages_dropped.get(), 0u);
  EXPECT_LE(rc.size() + f->b().counters().uc_messages_dropped.get(), size_t(kMsgs));
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
  expect_nothing_sent_back(*f);
}

// ------------------------------------------------- wrong opcode sequences

struct UcSequence : UcFabric {
  void SetUp() override {
    make(IBV_MTU_256);
    dst = f->b().reg(1024);
    f->b().post_recv(1, {dst.sge(0, 512)});
    f->b().post_recv(2, {dst.sge(512, 512)});
  }
  // A hand-made packet from A with PSN kAFirstPsn + k, a full MTU of payload
  // unless it ends a message.
  void inject(uint8_t opcode, uint32_t k, uint32_t len = 256) {
    wire::Packet p;
    p.bth.opcode = opcode;
    p.bth.psn = wire::psn_add(kAFirstPsn, k);
    if (wire::opcode_info(opcode).headers & wire::kHdrReth) p.reth = wire::Reth{remote.addr, remote.rkey, 512};
    f->inject(0, p, std::vector<uint8_t>(len, uint8_t(0x30 + k)));
  }
  // Then a good 2-packet SEND (PSN k, k+1) must still be delivered, whole,
  // into receive WQE 1 (the refused message did not consume it).
  void expect_next_message_delivered(uint32_t k) {
    inject(wire::kUcSendFirst, k);
    inject(wire::kUcSendLast, k + 1, 100);
    f->deliver_all();
    auto rc = f->b().recv_cqes();
    ASSERT_EQ(rc.size(), 1u);
    EXPECT_EQ(rc[0].wr_id, 1u);
    EXPECT_EQ(rc[0].byte_len, 356u);
    EXPECT_EQ(dst.data[0], uint8_t(0x30 + k));
    EXPECT_EQ(dst.data[300], uint8_t(0x30 + k + 1));
    EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
    EXPECT_TRUE(f->wire().empty()) << "nothing sent back";
    EXPECT_EQ(f->pump(1), 0u);
  }
  Buffer dst;
  Buffer remote;
};

TEST_F(UcSequence, MiddleWithoutFirstIsDroppedWithTheRestOfItsMessage) {
  inject(wire::kUcSendMiddle, 0);
  inject(wire::kUcSendMiddle, 1);
  inject(wire::kUcSendLast, 2, 10);
  f->deliver_all();
  EXPECT_TRUE(f->b().recv_cqes().empty());
  Counters& cb = f->b().counters();
  EXPECT_EQ(cb.rx_drop_invalid_request.get(), 1u);   // the first Middle
  EXPECT_EQ(cb.rx_drop_out_of_sequence.get(), 2u);   // the rest of that message
  EXPECT_EQ(cb.uc_messages_dropped.get(), 1u);
  expect_next_message_delivered(3);
}

TEST_F(UcSequence, LastWithoutFirstIsDropped) {
  inject(wire::kUcSendLastImm, 0, 10);
  f->deliver_all();
  EXPECT_EQ(f->b().counters().rx_drop_invalid_request.get(), 1u);
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 1u);
  expect_next_message_delivered(1);
}

TEST_F(UcSequence, WriteMiddleInsideASendDropsBoth) {
  inject(wire::kUcSendFirst, 0);
  inject(wire::kUcWriteMiddle, 1);
  inject(wire::kUcSendLast, 2, 10);  // would have ended the SEND
  f->deliver_all();
  EXPECT_TRUE(f->b().recv_cqes().empty());
  EXPECT_EQ(f->b().counters().rx_drop_invalid_request.get(), 1u);
  EXPECT_EQ(f->b().counters().rx_drop_out_of_sequence.get(), 1u);
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 1u);
  expect_next_message_delivered(3);
}

TEST_F(UcSequence, FirstInsideAMessageStartsANewOne) {
  // A SEND First, then (in sequence) a new SEND First: the first message
  // can never end, so it is dropped, and the second is placed from the start
  // of the same receive WQE.
  inject(wire::kUcSendFirst, 0);
  f->deliver_all();
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 0u);
  expect_next_message_delivered(1);
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 1u);
  EXPECT_EQ(f->b().counters().rx_drop_invalid_request.get(), 0u);
}

TEST_F(UcSequence, RcOpcodesAreNotUcAndAreDropped) {
  inject(wire::kRcSendOnly, 0, 10);
  inject(wire::kRcAcknowledge, 0, 0);
  f->deliver_all();
  EXPECT_EQ(f->b().counters().rx_drop_malformed.get(), 2u);
  EXPECT_TRUE(f->b().recv_cqes().empty());
  expect_next_message_delivered(0);  // the expected PSN did not move
}

TEST_F(UcSequence, WrongLengthIsAnInvalidRequestAndDropped) {
  inject(wire::kUcSendFirst, 0, 200);  // a First must carry a full MTU
  inject(wire::kUcSendLast, 1, 10);
  f->deliver_all();
  EXPECT_TRUE(f->b().recv_cqes().empty());
  EXPECT_EQ(f->b().counters().rx_drop_invalid_request.get(), 1u);
  EXPECT_EQ(f->b().counters().rx_drop_out_of_sequence.get(), 1u);
  expect_next_message_delivered(2);
}

// ------------------------------------------------------- refused at the peer

TEST_F(UcFabric, WriteToAQpWithoutRemoteWriteIsDroppedSilently) {
  QpOptions ob = uc_options(IBV_MTU_1024);
  ob.access = IBV_ACCESS_LOCAL_WRITE;  // no REMOTE_WRITE on B's QP
  f = std::make_unique<Fabric>(uc_options(IBV_MTU_1024), ob);
  f->connect();
  Buffer src = f->a().reg(2000);
  Buffer remote = f->b().reg(2000);
  std::memset(remote.data, 0x5a, 2000);
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = remote.addr;
  w.rkey = remote.rkey;
  f->a().post_send(w, {src.sge(0, 2000)});
  f->run();
  EXPECT_EQ(f->a().send_cqes().size(), 1u);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(remote.data[i], 0x5a);
  Counters& cb = f->b().counters();
  EXPECT_EQ(cb.rx_drop_remote_access.get(), 1u);
  EXPECT_EQ(cb.rx_drop_out_of_sequence.get(), 1u);  // its Last
  EXPECT_EQ(cb.uc_messages_dropped.get(), 1u);
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
  EXPECT_TRUE(f->b().env->events.empty());
  expect_nothing_sent_back(*f);
}

TEST_F(UcFabric, WriteWithABadRkeyIsDroppedAndTheNextWriteLands) {
  make();
  Buffer src = f->a().reg(64);
  fill_pattern(src.data, 64, 4);
  Buffer remote = f->b().reg(64);
  std::memset(remote.data, 0, 64);
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = remote.addr;
  w.rkey = remote.rkey ^ 0x1000;
  f->a().post_send(w, {src.sge(0, 64)});
  w.wr_id = 2;
  w.rkey = remote.rkey;
  f->a().post_send(w, {src.sge(0, 64)});
  f->run();
  EXPECT_EQ(std::memcmp(remote.data, src.data, 64), 0);
  EXPECT_EQ(f->b().counters().rx_drop_bad_key.get(), 1u);
  EXPECT_EQ(f->b().counters().rx_drop_remote_access.get(), 1u);
  EXPECT_EQ(f->b().counters().uc_messages_dropped.get(), 1u);
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
}

TEST_F(UcFabric, SendLongerThanTheReceiveBufferFailsTheReceiverOnly) {
  make();
  Buffer src = f->a().reg(3000);
  Buffer dst = f->b().reg(2048);
  f->b().post_recv(5, {dst.sge(0, 2048)});
  f->b().post_recv(6, {dst.sge(0, 2048)});
  f->a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 3000)});
  f->run();
  // The receive WQE completes with a local length error and B's QP fails
  // (reported through the completion: no async event); A knows nothing.
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_EQ(rc[0].wr_id, 5u);
  EXPECT_EQ(rc[0].status, IBV_WC_LOC_LEN_ERR);
  EXPECT_EQ(rc[1].wr_id, 6u);
  EXPECT_EQ(rc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_ERR);
  EXPECT_TRUE(f->b().env->events.empty());
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(f->a().qp->state(), IBV_QPS_RTS);
  expect_nothing_sent_back(*f);
}

TEST_F(UcFabric, SharedReceiveQueueWqeIsNotConsumedByADroppedMessage) {
  make(IBV_MTU_256, /*srq=*/true);
  Buffer src = f->a().reg(600);
  fill_pattern(src.data, 600, 6);
  Buffer dst = f->b().reg(2048);
  f->b().post_recv(40, {dst.sge(0, 1024)});
  f->b().post_recv(41, {dst.sge(1024, 1024)});
  f->set_tx_filter(lose_psns({kAFirstPsn + 1}));
  f->a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 600)});
  f->a().post_send(make_wqe(2, IBV_WR_SEND), {src.sge(0, 600)});
  f->run();
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 40u);
  EXPECT_EQ(std::memcmp(dst.data, src.data, 600), 0);
  EXPECT_EQ(f->b().srq->size(), 1u);  // 41 is still there
}

// --------------------------------------- operations UC does not offer

class UcRefusedOp : public ::testing::TestWithParam<ibv_wr_opcode> {};

TEST_P(UcRefusedOp, FailsWithLocalQpOperationErrorAndNothingIsSent) {
  Fabric f(uc_options(), uc_options());
  f.connect();
  Buffer local = f.a().reg(64);
  Buffer remote = f.b().reg(64);
  pipe::SendWqe w = make_wqe(1, GetParam());
  w.remote_addr = remote.addr;
  w.rkey = remote.rkey;
  w.compare_add = 1;
  // Past the verbs library (which refuses it with EINVAL), as a buggy or
  // hostile host could write it into the ring.
  f.a().post_send(w, {local.sge(0, 8)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {local.sge(0, 8)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_QP_OP_ERR);
  EXPECT_EQ(sc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
  EXPECT_EQ(f.transmitted, 0u);
}

INSTANTIATE_TEST_SUITE_P(ReadAtomicInvalidate, UcRefusedOp,
                         ::testing::Values(IBV_WR_RDMA_READ, IBV_WR_ATOMIC_CMP_AND_SWP,
                                           IBV_WR_ATOMIC_FETCH_AND_ADD, IBV_WR_SEND_WITH_INV));

// ---------------------------------------------------------- state machine

TEST(UcModify, TakesTheMasksUcToolsPassAndRefusesRcOnlyAttributes) {
  Fabric f(uc_options(), uc_options());
  Qp& qp = *f.a().qp;
  ibv_qp_attr a{};
  // RESET → INIT with the QP's access flags (ibv_uc_pingpong passes 0;
  // READ / atomic rights are accepted, as hardware does, but grant nothing
  // on UC).
  a.qp_state = IBV_QPS_INIT;
  a.port_num = 1;
  a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
  const int init = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
  ASSERT_EQ(qp.modify(a, init), 0);
  // INIT → RTR: AV, PATH_MTU, DEST_QPN, RQ_PSN; RC's MAX_DEST_RD_ATOMIC and
  // MIN_RNR_TIMER are not UC attributes (EINVAL, as ib_modify_qp_is_ok says).
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = IBV_MTU_1024;
  a.dest_qp_num = f.b().qpn;
  a.rq_psn = 5;
  a.ah_attr.is_global = 1;
  a.ah_attr.port_num = 1;
  a.ah_attr.grh.dgid.raw[10] = a.ah_attr.grh.dgid.raw[11] = 0xff;
  std::memcpy(a.ah_attr.grh.dgid.raw + 12, &f.b().ip, 4);
  const int rtr = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
  EXPECT_EQ(qp.modify(a, rtr | IBV_QP_MAX_DEST_RD_ATOMIC), EINVAL);
  EXPECT_EQ(qp.modify(a, rtr | IBV_QP_MIN_RNR_TIMER), EINVAL);
  for (int bit : {IBV_QP_AV, IBV_QP_PATH_MTU, IBV_QP_DEST_QPN, IBV_QP_RQ_PSN})
    EXPECT_EQ(qp.modify(a, rtr & ~bit), EINVAL) << "without 0x" << std::hex << bit;
  ASSERT_EQ(qp.state(), IBV_QPS_INIT);
  ASSERT_EQ(qp.modify(a, rtr), 0);
  // RTR → RTS: SQ_PSN only; no timeout, retry counts or initiator depth.
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTS;
  a.sq_psn = 9;
  a.timeout = 14;
  a.retry_cnt = 7;
  a.rnr_retry = 7;
  a.max_rd_atomic = 1;
  for (int rc_only : {IBV_QP_TIMEOUT, IBV_QP_RETRY_CNT, IBV_QP_RNR_RETRY, IBV_QP_MAX_QP_RD_ATOMIC,
                      IBV_QP_MIN_RNR_TIMER})
    EXPECT_EQ(qp.modify(a, IBV_QP_STATE | IBV_QP_SQ_PSN | rc_only), EINVAL) << std::hex << rc_only;
  EXPECT_EQ(qp.modify(a, IBV_QP_STATE), EINVAL);
  ASSERT_EQ(qp.modify(a, IBV_QP_STATE | IBV_QP_SQ_PSN), 0);
  EXPECT_EQ(qp.state(), IBV_QPS_RTS);
  ibv_qp_attr q{};
  ibv_qp_init_attr qi{};
  qp.query(q, qi);
  EXPECT_EQ(qi.qp_type, IBV_QPT_UC);
  EXPECT_EQ(q.sq_psn, 9u);
  EXPECT_EQ(q.rq_psn, 5u);
  EXPECT_EQ(q.dest_qp_num, f.b().qpn);
  // RTS → RTS may change the access flags.
  a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
  EXPECT_EQ(qp.modify(a, IBV_QP_STATE | IBV_QP_ACCESS_FLAGS), 0);
}

TEST_F(UcFabric, FirstPacketInRtrEstablishesTheConnection) {
  QpOptions o = uc_options();
  f = std::make_unique<Fabric>(o, o);
  Side& a = f->a();
  Side& b = f->b();
  ASSERT_EQ(Fabric::modify_to_init(*a.qp, o.access), 0);
  ASSERT_EQ(Fabric::modify_to_init(*b.qp, o.access), 0);
  ASSERT_EQ(Fabric::modify_to_rtr(*a.qp, o, b.ip, b.qpn, 0x10), 0);
  ASSERT_EQ(Fabric::modify_to_rtr(*b.qp, o, a.ip, a.qpn, 0x20), 0);
  ASSERT_EQ(Fabric::modify_to_rts(*a.qp, o, 0x20), 0);  // B stays in RTR
  Buffer src = a.reg(10);
  Buffer dst = b.reg(10);
  b.post_recv(1, {dst.sge(0, 10)});
  a.post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 10)});
  f->run();
  EXPECT_EQ(b.recv_cqes().size(), 1u);  // RTR receives
  ASSERT_EQ(b.env->events.size(), 1u);
  EXPECT_EQ(b.env->events[0], IBV_EVENT_COMM_EST);
}

}  // namespace
}  // namespace flexins::transport::test
