// Credit and ring accounting of rsockets (rsocket_window.h): a data message
// never crosses the ring's end or overruns what the receiver freed, control
// messages keep a reserve, bogus reports are refused, and a simulated
// sender / receiver pair moves a byte stream through a small ring intact and
// without ever stalling for good.
#include "rdmacm/rsocket_window.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

namespace flexins::rdmacm::rs {
namespace {

SendWindow window(uint32_t ring, uint32_t credits) {
  SendWindow w;
  w.ring_size = ring;
  w.rq_credits = credits;
  return w;
}

RecvRing ring(uint32_t size, uint32_t depth) {
  RecvRing r;
  r.size = size;
  r.rq_depth = depth;
  return r;
}

TEST(RsocketSendWindow, NeverCrossesTheRingEnd) {
  SendWindow w = window(1000, 64);
  EXPECT_EQ(w.data_room(600, 4096), 600u);
  w.on_data_sent(600);
  EXPECT_EQ(w.data_room(600, 4096), 400u) << "free 400, and it ends there too";
  w.on_data_sent(400);
  EXPECT_EQ(w.data_room(10, 4096), 0u) << "ring full";
  ASSERT_TRUE(w.on_credit(2, 700));
  EXPECT_EQ(w.ring_offset(), 0u);
  EXPECT_EQ(w.data_room(1000, 4096), 700u);
  EXPECT_EQ(w.data_room(1000, 256), 256u) << "largest message";
}

TEST(RsocketSendWindow, KeepsReceiveWrsForControlMessages) {
  SendWindow w = window(1 << 20, kCtrlReserve + 2);
  w.on_data_sent(1);
  w.on_data_sent(1);
  EXPECT_EQ(w.data_room(1, 4096), 0u) << "only the reserve is left";
  for (uint32_t i = 0; i < kCtrlReserve; ++i) {
    ASSERT_TRUE(w.can_send_ctrl());
    w.on_ctrl_sent();
  }
  EXPECT_FALSE(w.can_send_ctrl());
  ASSERT_TRUE(w.on_credit(kCtrlReserve + 2, 2));
  EXPECT_EQ(w.msg_credits(), kCtrlReserve + 2);
  EXPECT_GT(w.data_room(1, 4096), 0u);
}

TEST(RsocketSendWindow, RefusesImpossibleCredits) {
  SendWindow w = window(4096, 16);
  w.on_data_sent(100);
  EXPECT_FALSE(w.on_credit(0, 101)) << "freed more than was written";
  EXPECT_FALSE(w.on_credit(2, 50)) << "reposted more than was sent";
  ASSERT_TRUE(w.on_credit(1, 100));
  EXPECT_FALSE(w.on_credit(1, 50)) << "freed went backwards";
  EXPECT_EQ(w.peer_freed, 100u);
}

TEST(RsocketSendWindow, MessageCountersWrap) {
  SendWindow w = window(1 << 20, 8);
  w.sent_msgs = 0xfffffffeu;
  w.peer_reposted = 0xfffffffeu;
  w.on_data_sent(1);
  w.on_data_sent(1);
  w.on_data_sent(1);  // sent_msgs wrapped to 1
  EXPECT_EQ(w.msg_credits(), 5u);
  ASSERT_TRUE(w.on_credit(1, 3));
  EXPECT_EQ(w.msg_credits(), 8u);
}

TEST(RsocketRecvRing, RefusesOverrunsAndWraps) {
  RecvRing r = ring(1000, 16);
  EXPECT_FALSE(r.on_data(0));
  EXPECT_FALSE(r.on_data(1001));
  ASSERT_TRUE(r.on_data(900));
  r.on_consumed(900);
  EXPECT_FALSE(r.on_data(101)) << "freed space not yet reported: the sender cannot know it";
  r.take_credit();
  EXPECT_FALSE(r.on_data(200)) << "crosses the end of the ring";
  ASSERT_TRUE(r.on_data(100)) << "up to the end exactly";
  ASSERT_TRUE(r.on_data(900)) << "then from the start";
  EXPECT_FALSE(r.on_data(1)) << "full";
}

TEST(RsocketRecvRing, ReportsAtHalfTheRingOrHalfTheWrs) {
  RecvRing r = ring(1000, 8);
  ASSERT_TRUE(r.on_data(499));
  r.on_consumed(499);
  EXPECT_FALSE(r.credit_due());
  ASSERT_TRUE(r.on_data(1));
  r.on_consumed(1);
  EXPECT_TRUE(r.credit_due());
  CtrlMsg m = r.take_credit();
  EXPECT_EQ(m.type, CtrlType::kCredit);
  EXPECT_EQ(m.freed, 500u);
  EXPECT_FALSE(r.credit_due());
  for (int i = 0; i < 3; ++i) r.on_reposted();
  EXPECT_FALSE(r.credit_due());
  r.on_reposted();
  EXPECT_TRUE(r.credit_due());
  EXPECT_EQ(r.take_credit().reposted, 4u);
}

TEST(RsocketByteRing, HandsOutContiguousPieces) {
  ByteRing b;
  b.size = 100;
  EXPECT_EQ(b.contiguous_free(), 100u);
  b.take(70);
  EXPECT_EQ(b.contiguous_free(), 30u);
  b.give_back(50);
  EXPECT_EQ(b.contiguous_free(), 30u) << "up to the end first";
  b.take(30);
  EXPECT_EQ(b.offset(), 0u);
  EXPECT_EQ(b.contiguous_free(), 50u);
  b.give_back(50);
  EXPECT_EQ(b.used(), 0u);
}

// A sender and a receiver exchange a random byte stream through a small
// ring. Messages arrive in order (RC); control messages (CREDIT) travel the
// other way and consume the sender's receive WRs too. Each step either side
// may act; the stream must arrive intact and the pair must never deadlock.
TEST(RsocketWindows, StreamThroughASmallRingArrivesIntact) {
  std::mt19937 rng(7);
  constexpr uint32_t kRing = 4096, kDepth = 16;
  constexpr size_t kTotal = 1 << 20;
  SendWindow tx = window(kRing, kDepth);
  RecvRing rx = ring(kRing, kDepth);
  std::vector<uint8_t> ring_mem(kRing);
  struct Msg {
    uint64_t at;
    size_t n;
    std::vector<uint8_t> bytes;
  };
  std::deque<Msg> wire;        // data in flight to the receiver
  std::deque<CtrlMsg> back;    // credits in flight to the sender
  uint64_t produced = 0, checked = 0;
  int idle_steps = 0;
  while (checked < kTotal) {
    bool moved = false;
    // Sender: a message of random size, as much as the window allows.
    if (produced < kTotal && rng() % 2) {
      size_t want = std::min<size_t>(kTotal - produced, 1 + rng() % 3000);
      size_t n = tx.data_room(want, 1024);
      if (n > 0) {
        Msg m{tx.ring_offset(), n, {}};
        for (size_t i = 0; i < n; ++i) m.bytes.push_back(uint8_t((produced + i) * 131));
        wire.push_back(std::move(m));
        tx.on_data_sent(n);
        produced += n;
        moved = true;
      }
    }
    // Network: deliver the oldest data message (placement, then completion).
    if (!wire.empty() && rng() % 2) {
      Msg m = std::move(wire.front());
      wire.pop_front();
      ASSERT_EQ(m.at, rx.arrived % kRing) << "lands where the receiver expects";
      std::copy(m.bytes.begin(), m.bytes.end(), ring_mem.begin() + ptrdiff_t(m.at));
      ASSERT_TRUE(rx.on_data(m.n));
      rx.on_reposted();
      moved = true;
    }
    // Receiver: read a random amount, report when due.
    if (rx.readable() > 0 && rng() % 2) {
      size_t n = std::min<size_t>(rx.readable(), 1 + rng() % 2000);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(ring_mem[(rx.consumed + i) % kRing], uint8_t((checked + i) * 131));
      }
      rx.on_consumed(n);
      checked += n;
      moved = true;
    }
    if (rx.credit_due()) {
      back.push_back(rx.take_credit());
      moved = true;
    }
    // Network: deliver a credit to the sender.
    if (!back.empty() && rng() % 2) {
      CtrlMsg c = back.front();
      back.pop_front();
      ASSERT_TRUE(tx.on_credit(c.reposted, c.freed));
      moved = true;
    }
    idle_steps = moved ? 0 : idle_steps + 1;
    ASSERT_LT(idle_steps, 64) << "stalled at " << checked << " of " << kTotal;
  }
  EXPECT_EQ(produced, kTotal);
}

}  // namespace
}  // namespace flexins::rdmacm::rs
