// Selective repeat (transport/selective_repeat.h), narrated packet by
// packet: the test decides what the wire loses, lets each QP transmit, and
// checks what the other one places and sends back. A's PSNs start at
// 0xfffff0, so every scenario crosses the 24-bit PSN wrap.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "harness.h"
#include "wire/packet.h"
#include "wire/sack.h"

namespace flexins::transport::test {
namespace {

constexpr uint32_t kA0 = 0xfffff0;  // A's first PSN (Fabric::connect)
constexpr uint32_t kMtu = 256;
constexpr uint32_t kPackets = 10;
constexpr uint32_t kBytes = kPackets * kMtu;

uint32_t psn_of(uint32_t k) { return wire::psn_add(kA0, k); }

std::function<bool(const WirePacket&)> drop_once(std::function<bool(const WirePacket&)> match) {
  auto done = std::make_shared<bool>(false);
  return [match, done](const WirePacket& w) {
    if (*done || !match(w)) return false;
    *done = true;
    return true;
  };
}

// Drop A's request packets with these PSNs, the first time each is sent.
std::function<bool(const WirePacket&)> drop_first_send_of(std::vector<uint32_t> psns) {
  auto left = std::make_shared<std::vector<uint32_t>>(std::move(psns));
  return [left](const WirePacket& w) {
    if (w.to != 1) return false;
    for (auto it = left->begin(); it != left->end(); ++it) {
      if (*it != w.parsed.bth.psn) continue;
      left->erase(it);
      return true;
    }
    return false;
  };
}

bool is_sack(const WirePacket& w) {
  return w.parsed.bth.opcode == wire::kRcAcknowledge && w.parsed.bth.sr &&
         wire::ack_type(w.parsed.aeth.syndrome) == wire::AckType::kNak;
}

wire::SackBlock sack_of(const WirePacket& w) {
  wire::SackBlock s;
  EXPECT_TRUE(wire::parse_sack({w.parsed.payload, w.parsed.payload_len}, s));
  return s;
}

QpOptions options(LossRecoveryMode lr) {
  QpOptions o;
  o.mtu = IBV_MTU_256;
  o.lr = lr;
  return o;
}

constexpr LossRecoveryMode kSr = LossRecoveryMode::kSelectiveRepeat;
constexpr LossRecoveryMode kGbn = LossRecoveryMode::kGoBackN;

// A 10-packet RDMA WRITE (or WRITE WITH IMM) from A into B, MTU 256.
struct SrWrite : ::testing::Test {
  void make(LossRecoveryMode a_lr, LossRecoveryMode b_lr) {
    f = std::make_unique<Fabric>(options(a_lr), options(b_lr));
    f->connect();
    src = f->a().reg(kBytes);
    fill_pattern(src.data, kBytes, 41);
    dst = f->b().reg(kBytes);
  }
  void SetUp() override { make(kSr, kSr); }
  void post(ibv_wr_opcode op = IBV_WR_RDMA_WRITE, uint64_t wr_id = 10) {
    pipe::SendWqe w = make_wqe(wr_id, op);
    w.remote_addr = dst.addr;
    w.rkey = dst.rkey;
    w.imm_data = htonl(0xabcd0123);
    f->a().post_send(w, {src.sge(0, kBytes)});
  }
  bool placed(uint32_t k) const { return std::memcmp(dst.data + k * kMtu, src.data + k * kMtu, kMtu) == 0; }
  bool untouched(uint32_t k) const {
    for (uint32_t i = 0; i < kMtu; ++i)
      if (dst.data[k * kMtu + i] != 0) return false;
    return true;
  }
  void expect_completed_once(ibv_wc_status status = IBV_WC_SUCCESS) {
    auto sc = f->a().send_cqes();
    ASSERT_EQ(sc.size(), 1u);
    EXPECT_EQ(sc[0].status, status);
    if (status == IBV_WC_SUCCESS) {
      EXPECT_EQ(std::memcmp(dst.data, src.data, kBytes), 0) << "every byte";
    }
  }
  std::unique_ptr<Fabric> f;
  Buffer src, dst;
};

TEST_F(SrWrite, EachPacketIsAWriteOnlyWithItsOwnRethAndAllButTheLastAreMarked) {
  post();
  EXPECT_EQ(f->pump(0), kPackets);
  ASSERT_EQ(f->wire().size(), kPackets);
  for (uint32_t k = 0; k < kPackets; ++k) {
    const wire::Packet& p = f->wire()[k].parsed;
    SCOPED_TRACE(k);
    EXPECT_EQ(p.bth.opcode, wire::kRcWriteOnly);
    EXPECT_EQ(p.bth.psn, psn_of(k));
    EXPECT_EQ(p.reth.va, dst.addr + uint64_t(k) * kMtu);
    EXPECT_EQ(p.reth.rkey, dst.rkey);
    EXPECT_EQ(p.reth.dma_length, kMtu);
    EXPECT_EQ(p.payload_len, kMtu);
    EXPECT_EQ(p.bth.sr, k + 1 < kPackets) << "the last packet is not marked";
  }
  EXPECT_TRUE(f->wire().back().parsed.bth.ack_req);
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 0u);
  EXPECT_EQ(f->b().counters().sacks_sent.get(), 0u) << "no loss, no SACK";
  EXPECT_EQ(f->b().counters().acks_sent.get(), 1u);
  EXPECT_EQ(f->iovs_outside_mrs, 0u) << "header-only TX";
}

TEST_F(SrWrite, ALostMiddlePacketIsResentAloneWithTheLastWhichWaitsForOrder) {
  f->set_tx_filter(drop_first_send_of({psn_of(3)}));
  post();
  EXPECT_EQ(f->pump(0), kPackets);
  ASSERT_EQ(f->wire().size(), kPackets - 1);
  f->deliver_all();
  // B placed 4..8 ahead of the hole at once; the last packet (unmarked)
  // must wait for everything before it, so B dropped it.
  EXPECT_EQ(f->b().counters().sr_placed_out_of_order.get(), 5u);
  EXPECT_EQ(f->b().counters().rx_drop_out_of_sequence.get(), 1u);
  for (uint32_t k = 0; k < kPackets; ++k) {
    SCOPED_TRACE(k);
    if (k == 3 || k == 9) {
      EXPECT_TRUE(untouched(k)) << "not before the data ahead of it";
    } else {
      EXPECT_TRUE(placed(k));
    }
  }
  // One SACK (the later ones coalesced in B's reply queue): NAK for the
  // hole, and what B placed and saw after it.
  EXPECT_EQ(f->pump(1), 1u);
  ASSERT_EQ(f->wire().size(), 1u);
  const WirePacket& w = f->wire().front();
  ASSERT_TRUE(is_sack(w));
  EXPECT_EQ(wire::syndrome_value(w.parsed.aeth.syndrome), uint8_t(wire::NakCode::kPsnSequenceError));
  EXPECT_EQ(w.parsed.bth.psn, psn_of(3));
  const wire::SackBlock s = sack_of(w);
  EXPECT_EQ(s.first_psn, psn_of(4));
  EXPECT_EQ(s.bits, 6u) << "through the last PSN seen, 9";
  for (uint32_t i = 0; i < 5; ++i) EXPECT_TRUE(s.test(i)) << i;
  EXPECT_FALSE(s.test(5)) << "seen, not kept";
  // A resends the hole and the dropped last packet, nothing else, at once.
  f->deliver_all();
  EXPECT_EQ(f->a().counters().sacks_received.get(), 1u);
  EXPECT_EQ(f->pump(0), 2u);
  ASSERT_EQ(f->wire().size(), 2u);
  EXPECT_EQ(f->wire()[0].parsed.bth.psn, psn_of(3));
  EXPECT_TRUE(f->wire()[0].parsed.bth.sr);
  EXPECT_EQ(f->wire()[1].parsed.bth.psn, psn_of(9));
  EXPECT_FALSE(f->wire()[1].parsed.bth.sr);
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 2u);
  EXPECT_EQ(f->a().counters().selective_retransmits.get(), 2u);
  EXPECT_EQ(f->a().qp->info().stats.retransmitted_packets, 2u);
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 2u);
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 0u);
  EXPECT_EQ(f->a().counters().naks_received_psn_sequence.get(), 0u) << "a SACK, not a plain NAK";
  EXPECT_EQ(f->b().qp->info().stats.sacks_sent, 1u);
}

TEST_F(SrWrite, TheSackNamesEveryHoleAndWhatWasSeenBeyond) {
  f->set_tx_filter(drop_first_send_of({psn_of(2), psn_of(5), psn_of(6)}));
  post();
  f->pump(0);
  f->deliver_all();
  ASSERT_EQ(f->pump(1), 1u);
  ASSERT_TRUE(is_sack(f->wire().front()));
  EXPECT_EQ(f->wire().front().parsed.bth.psn, psn_of(2));
  const wire::SackBlock s = sack_of(f->wire().front());
  ASSERT_EQ(s.bits, 7u);  // 3..9
  const bool want[] = {true, true, false, false, true, true, false};  // 3 4 | 5 6 | 7 8 | 9 (dropped)
  for (uint32_t i = 0; i < 7; ++i) EXPECT_EQ(s.test(i), want[i]) << "PSN +" << i + 3;
  f->deliver_all();
  EXPECT_EQ(f->pump(0), 4u);  // 2, 5, 6 and the last
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 4u);
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 0u);
}

TEST_F(SrWrite, SacksAreRateLimited) {
  // A 40-packet WRITE whose second packet is lost, delivered one by one
  // with B answering after each: a SACK for the first out-of-order packet,
  // one per kSackEveryPackets more, and one for the last (it asks: AckReq).
  src = f->a().reg(40 * kMtu);
  dst = f->b().reg(40 * kMtu);
  fill_pattern(src.data, src.size, 3);
  f->set_tx_filter(drop_first_send_of({psn_of(1)}));
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = dst.addr;
  w.rkey = dst.rkey;
  f->a().post_send(w, {src.sge(0, 40 * kMtu)});
  EXPECT_EQ(f->pump(0, 64), 40u);
  std::deque<WirePacket> to_b = std::move(f->wire());
  f->wire().clear();
  uint32_t sacks = 0;
  for (WirePacket& p : to_b) {
    wire::parse(p.bytes, p.parsed);
    f->wire().push_back(std::move(p));
    f->deliver_one();
    f->pump(1);
    while (!f->wire().empty()) {
      sacks += is_sack(f->wire().front()) ? 1 : 0;
      f->wire().pop_front();  // A does not hear them yet
    }
  }
  // 38 out-of-order packets (k = 2..39): k = 2, 18, 34 and 39.
  EXPECT_EQ(sacks, 4u);
  EXPECT_EQ(f->b().counters().sacks_sent.get(), 4u);
  f->set_tx_filter(nullptr);
  f->run();  // A times out, resends what it cannot know arrived, completes
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(std::memcmp(dst.data, src.data, 40 * kMtu), 0);
}

TEST_F(SrWrite, ALostLastPacketIsResentWhenTheTimerFires) {
  f->set_tx_filter(drop_first_send_of({psn_of(9)}));
  post();
  f->pump(0);
  f->deliver_all();
  // Nine SR packets in order, none asking for an ACK: B stays silent.
  EXPECT_EQ(f->pump(1), 0u);
  EXPECT_EQ(f->b().counters().sr_placed_out_of_order.get(), 0u);
  EXPECT_TRUE(untouched(9));
  const uint64_t deadline = f->a().qp->next_deadline();
  EXPECT_EQ(deadline, f->now() + (4096ull << 14));
  f->advance(deadline - f->now());
  // Timeout: the policy knows of no PSN that arrived, so all ten go again.
  EXPECT_EQ(f->pump(0), kPackets);
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 1u);
  EXPECT_EQ(f->a().counters().selective_retransmits.get(), kPackets);
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 9u);
}

TEST_F(SrWrite, ALostSackIsMadeUpForByTheTimeout) {
  f->set_tx_filter(drop_first_send_of({psn_of(4)}));
  post();
  f->pump(0);
  f->deliver_all();
  ASSERT_EQ(f->pump(1), 1u);
  ASSERT_TRUE(is_sack(f->wire().front()));
  f->wire().clear();  // the SACK is lost
  f->run(50'000'000);  // less than the timeout: A waits
  EXPECT_TRUE(f->a().send_cqes().empty());
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 0u);
  f->run();
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 1u);
  expect_completed_once();
}

TEST_F(SrWrite, APacketPlacedAlreadyIsADuplicateAndIsNotPlacedAgain) {
  f->set_tx_filter(drop_first_send_of({psn_of(3)}));
  post();
  f->pump(0);
  WirePacket copy = f->wire()[4];  // PSN 5, placed ahead of the hole
  ASSERT_EQ(copy.parsed.bth.psn, psn_of(5));
  f->deliver_all();
  f->pump(1);
  f->wire().clear();  // (A does not hear the first SACK)
  // B's memory under PSN 5 changes; the duplicate must not write it again.
  dst.data[5 * kMtu] ^= 0xff;
  wire::parse(copy.bytes, copy.parsed);
  f->wire().push_back(std::move(copy));
  f->deliver_all();
  EXPECT_EQ(f->b().counters().duplicate_requests.get(), 1u);
  EXPECT_EQ(f->b().counters().sr_placed_out_of_order.get(), 5u);
  EXPECT_FALSE(placed(5)) << "placed twice";
  dst.data[5 * kMtu] ^= 0xff;
  ASSERT_EQ(f->pump(1), 1u);
  ASSERT_TRUE(is_sack(f->wire().front())) << "a duplicate is answered with the SACK";
  EXPECT_EQ(f->wire().front().parsed.bth.psn, psn_of(3));
  f->run();
  expect_completed_once();
}

TEST_F(SrWrite, WriteWithImmediateCompletesOnceWithItsImmediateAndWholeLength) {
  f->b().post_recv(1, {});
  f->b().post_recv(2, {});  // a spare: must stay unused
  f->set_tx_filter(drop_first_send_of({psn_of(2), psn_of(7)}));
  post(IBV_WR_RDMA_WRITE_WITH_IMM);
  f->pump(0);
  EXPECT_EQ(f->wire().back().parsed.bth.opcode, wire::kRcWriteOnlyImm);
  EXPECT_EQ(f->wire().back().parsed.reth.dma_length, kMtu) << "the last packet's own RETH";
  f->deliver_all();
  EXPECT_TRUE(f->b().recv_cqes().empty()) << "not before the data ahead of it";
  f->run();
  expect_completed_once();
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 1u);
  EXPECT_EQ(rc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
  EXPECT_EQ(rc[0].imm_data, htonl(0xabcd0123));
  EXPECT_EQ(rc[0].byte_len, kBytes) << "the SR packets ahead of the last count";
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 0u);
}

TEST_F(SrWrite, AnSrPacketThatFailsItsChecksAheadOfOrderIsRefusedInOrder) {
  // The remote region holds only five packets: 5..8 are out of bounds.
  dst = f->b().reg(5 * kMtu);
  f->set_tx_filter(drop_first_send_of({psn_of(2)}));
  post();
  f->pump(0);
  f->deliver_all();
  // Not NAKed ahead of order (that NAK would acknowledge PSN 2 too).
  EXPECT_EQ(f->b().counters().rx_drop_sr_deferred.get(), 4u);
  EXPECT_EQ(f->b().counters().naks_sent_remote_access.get(), 0u);
  EXPECT_EQ(f->b().qp->state(), IBV_QPS_RTS);
  f->run();
  // Resent, PSN 5 arrives in order and the error table answers.
  EXPECT_EQ(f->b().counters().naks_sent_remote_access.get(), 1u);
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_REM_ACCESS_ERR);
  EXPECT_EQ(std::memcmp(dst.data, src.data, 5 * kMtu), 0);
}

// ---- mixed modes

TEST_F(SrWrite, AnSrRequesterAgainstAGoBackNResponderGoesBackN) {
  make(kSr, kGbn);
  f->b().post_recv(1, {});
  f->set_tx_filter(drop_first_send_of({psn_of(3)}));
  post(IBV_WR_RDMA_WRITE_WITH_IMM);
  f->pump(0);
  EXPECT_TRUE(f->wire().front().parsed.bth.sr) << "A marks, B ignores the mark";
  f->deliver_all();
  EXPECT_EQ(f->b().counters().sr_placed_out_of_order.get(), 0u);
  EXPECT_EQ(f->b().counters().naks_sent_psn_sequence.get(), 1u);
  ASSERT_EQ(f->pump(1), 1u);
  EXPECT_FALSE(f->wire().front().parsed.bth.sr) << "a plain NAK";
  f->deliver_all();
  // A plain NAK: the responder drops everything after a gap, so A goes back.
  EXPECT_EQ(f->pump(0), 7u);
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 7u);
  EXPECT_EQ(f->a().counters().sacks_received.get(), 0u);
  EXPECT_EQ(f->b().counters().sacks_sent.get(), 0u);
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].imm_data, htonl(0xabcd0123));
  EXPECT_EQ(rc[0].byte_len, kBytes) << "a FlexiNS responder counts the marked packets in any mode";
}

TEST_F(SrWrite, AGoBackNRequesterAgainstAnSrResponderIsPlainIba) {
  make(kGbn, kSr);
  f->set_tx_filter(drop_first_send_of({psn_of(3)}));
  post();
  f->pump(0);
  EXPECT_EQ(f->wire().front().parsed.bth.opcode, wire::kRcWriteFirst);
  EXPECT_FALSE(f->wire().front().parsed.bth.sr);
  f->deliver_all();
  ASSERT_EQ(f->pump(1), 1u);
  EXPECT_FALSE(is_sack(f->wire().front())) << "B never SACKs a peer that never marked";
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 7u);
  EXPECT_EQ(f->a().counters().naks_received_psn_sequence.get(), 1u);
  EXPECT_EQ(f->b().counters().sacks_sent.get(), 0u);
}

TEST_F(SrWrite, TheModeCanBeSwitchedOnALiveQp) {
  make(kGbn, kGbn);
  EXPECT_EQ(f->a().qp->info().lr, "go_back_n");
  post();
  f->run();
  expect_completed_once();
  ASSERT_TRUE(f->a().qp->set_loss_recovery(kSr));
  ASSERT_TRUE(f->b().qp->set_loss_recovery(kSr));
  EXPECT_EQ(f->a().qp->info().lr, "selective_repeat");
  std::memset(dst.data, 0, kBytes);
  f->set_tx_filter(drop_first_send_of({psn_of(kPackets + 3)}));
  post(IBV_WR_RDMA_WRITE, 11);
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().selective_retransmits.get(), 2u);  // the hole and the last
  ASSERT_TRUE(f->a().qp->set_loss_recovery(kGbn));
  std::memset(dst.data, 0, kBytes);
  f->set_tx_filter(drop_first_send_of({psn_of(2 * kPackets + 3)}));
  post(IBV_WR_RDMA_WRITE, 12);
  f->run();
  expect_completed_once();
  EXPECT_EQ(f->a().counters().selective_retransmits.get(), 2u);
  EXPECT_EQ(f->a().counters().retransmitted_packets.get(), 2u + 7u);  // back to go-back-N
}

// ---- operations that recover go-back-N style on a selective-repeat QP

TEST_F(SrWrite, SendUnderLossAfterTheResponderHasSeenSrPackets) {
  post();
  f->run();
  expect_completed_once();  // B now knows A marks
  Buffer rbuf = f->b().reg(kBytes);
  f->b().post_recv(1, {rbuf.sge(0, kBytes)});
  f->set_tx_filter(drop_first_send_of({psn_of(kPackets + 3)}));
  f->a().post_send(make_wqe(20, IBV_WR_SEND), {src.sge(0, kBytes)});
  f->pump(0);
  EXPECT_EQ(f->wire().front().parsed.bth.opcode, wire::kRcSendFirst);
  f->deliver_all();
  EXPECT_EQ(f->b().counters().sr_placed_out_of_order.get(), 0u) << "SEND packets only in order";
  ASSERT_EQ(f->pump(1), 1u);
  ASSERT_TRUE(is_sack(f->wire().front()));
  EXPECT_EQ(sack_of(f->wire().front()).bits, 6u);  // all seen, none kept
  f->deliver_all();
  EXPECT_EQ(f->pump(0), 7u) << "everything seen and dropped: as go-back-N";
  f->run();
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  auto rc = f->b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].byte_len, kBytes);
  EXPECT_EQ(std::memcmp(rbuf.data, src.data, kBytes), 0);
}

TEST_F(SrWrite, ReadWithALostResponseIsAskedForAgain) {
  Buffer remote = f->b().reg(1024);
  fill_pattern(remote.data, 1024, 3);
  Buffer local = f->a().reg(1024);
  pipe::SendWqe r = make_wqe(1, IBV_WR_RDMA_READ);
  r.remote_addr = remote.addr;
  r.rkey = remote.rkey;
  f->set_tx_filter(drop_once([](const WirePacket& w) {
    return w.parsed.bth.opcode == wire::kRcReadResponseMiddle && w.parsed.bth.psn == 0xfffff1;
  }));
  f->a().post_send(r, {local.sge(0, 1024)});
  f->run();
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(std::memcmp(local.data, remote.data, 1024), 0);
  EXPECT_EQ(f->b().counters().read_responses_replayed.get(), 1u);
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 0u);
}

TEST_F(SrWrite, AtomicsExecuteOnceWhenTheRequestOrTheAnswerIsLost) {
  Buffer target = f->b().reg(8);
  uint64_t v = 100;
  std::memcpy(target.data, &v, 8);
  Buffer result = f->a().reg(16);
  auto faa = [&](uint64_t wr_id, uint32_t offset) {
    pipe::SendWqe w = make_wqe(wr_id, IBV_WR_ATOMIC_FETCH_AND_ADD);
    w.remote_addr = target.addr;
    w.rkey = target.rkey;
    w.compare_add = 5;
    f->a().post_send(w, {result.sge(offset, 8)});
  };
  // The request is lost: the timeout resends it.
  f->set_tx_filter(drop_once([](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcFetchAdd; }));
  faa(1, 0);
  f->run();
  // The answer is lost: the resent request is answered from the replay cache.
  f->set_tx_filter(
      drop_once([](const WirePacket& w) { return w.parsed.bth.opcode == wire::kRcAtomicAcknowledge; }));
  faa(2, 8);
  f->run();
  auto sc = f->a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[1].status, IBV_WC_SUCCESS);
  std::memcpy(&v, target.data, 8);
  EXPECT_EQ(v, 110u) << "each add executed once";
  uint64_t got[2];
  std::memcpy(got, result.data, 16);
  EXPECT_EQ(got[0], 100u);
  EXPECT_EQ(got[1], 105u);
  EXPECT_EQ(f->a().counters().retransmit_timeouts.get(), 2u);
}

// ---- many operations under random loss, duplication and reordering

TEST(SelectiveRepeatStress, EveryByteArrivesUnderRandomFaults) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(seed);
    QpOptions o = options(kSr);
    o.timeout = 8;  // 1 ms: the transport's floor
    Fabric f(o, o, seed);
    f.connect();
    f.set_faults({.loss = 0.05, .duplicate = 0.01, .reorder = 0.01});
    constexpr uint32_t kMsgs = 60;
    constexpr uint32_t kSlot = 24 * kMtu;
    Buffer src = f.a().reg(kMsgs * kSlot);
    fill_pattern(src.data, src.size, uint32_t(seed));
    Buffer dst = f.b().reg(kMsgs * kSlot);
    Buffer rbuf = f.b().reg(kMsgs * kSlot);
    uint32_t recvs = 0;
    for (uint32_t m = 0; m < kMsgs; ++m) {
      const uint32_t len = 1 + (m * 2654435761u) % (20 * kMtu);  // 1 B .. 20 packets, odd sizes
      const ibv_wr_opcode op = m % 5 == 0   ? IBV_WR_SEND
                               : m % 3 == 0 ? IBV_WR_RDMA_WRITE_WITH_IMM
                                            : IBV_WR_RDMA_WRITE;
      pipe::SendWqe w = make_wqe(m, op);
      w.remote_addr = dst.addr + uint64_t(m) * kSlot;
      w.rkey = dst.rkey;
      w.imm_data = htonl(m);
      if (op != IBV_WR_RDMA_WRITE) {
        f.b().post_recv(m, {rbuf.sge(uint64_t(m) * kSlot, kSlot)});
        ++recvs;
      }
      f.a().post_send(w, {src.sge(uint64_t(m) * kSlot, len)});
    }
    f.run();
    auto sc = f.a().send_cqes();
    ASSERT_EQ(sc.size(), kMsgs);
    for (uint32_t m = 0; m < kMsgs; ++m) {
      ASSERT_EQ(sc[m].status, IBV_WC_SUCCESS) << m;
      ASSERT_EQ(sc[m].wr_id, m);
    }
    auto rc = f.b().recv_cqes();
    ASSERT_EQ(rc.size(), recvs) << "one receive completion per SEND / WRITE WITH IMM";
    for (const pipe::Cqe& c : rc) {
      const uint32_t m = uint32_t(c.wr_id);
      const uint32_t len = 1 + (m * 2654435761u) % (20 * kMtu);
      ASSERT_EQ(c.status, IBV_WC_SUCCESS);
      EXPECT_EQ(c.byte_len, len) << m;
      const uint8_t* got = m % 5 == 0 ? rbuf.data + uint64_t(m) * kSlot : dst.data + uint64_t(m) * kSlot;
      if (m % 5 != 0) {
        EXPECT_EQ(c.imm_data, htonl(m));
      }
      EXPECT_EQ(std::memcmp(got, src.data + uint64_t(m) * kSlot, len), 0) << m;
    }
    for (uint32_t m = 0; m < kMsgs; ++m) {
      if (m % 5 == 0) continue;
      const uint32_t len = 1 + (m * 2654435761u) % (20 * kMtu);
      ASSERT_EQ(std::memcmp(dst.data + uint64_t(m) * kSlot, src.data + uint64_t(m) * kSlot, len), 0) << m;
    }
    EXPECT_GT(f.b().counters().sacks_sent.get(), 0u);
    EXPECT_GT(f.a().counters().selective_retransmits.get(), 0u);
    EXPECT_GT(f.b().counters().sr_placed_out_of_order.get(), 0u);
    EXPECT_EQ(f.a().counters().qp_errors.get() + f.b().counters().qp_errors.get(), 0u);
  }
}

}  // namespace
}  // namespace flexins::transport::test
