// The ablation switches (measurement only): parsing, and the two data-path
// pieces that do the naive work (tx-copy, rx-per-qp).
#include "engine/ablation.h"

#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>
#include <vector>

#include "engine/rx_per_qp.h"
#include "engine/tx_copy.h"

namespace flexins::engine {
namespace {

TEST(Ablations, ParsesAnySubsetAndReportsItAsJson) {
  Ablations none = parse_ablations("");
  EXPECT_FALSE(none.tx_copy || none.rx_per_qp || none.doorbell_syscall);
  EXPECT_EQ(ablations_json(none), "[]");
  Ablations all = parse_ablations("doorbell-syscall,tx-copy,rx-per-qp");
  EXPECT_TRUE(all.tx_copy && all.rx_per_qp && all.doorbell_syscall);
  EXPECT_EQ(ablations_json(all), R"(["tx-copy","rx-per-qp","doorbell-syscall"])");
  Ablations one = parse_ablations("rx-per-qp");
  EXPECT_TRUE(one.rx_per_qp);
  EXPECT_FALSE(one.tx_copy || one.doorbell_syscall);
}

TEST(Ablations, RefusesUnknownNamesSayingWhichAreKnown) {
  for (const char* bad : {"tx_copy", "tx-copy,bogus", "tx-copy,", " tx-copy"}) {
    try {
      parse_ablations(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("known: tx-copy, rx-per-qp, doorbell-syscall"), std::string::npos)
          << e.what();
    }
  }
}

TEST(TxCopy, GathersThePayloadIntoItsSlotAndCountsTheBytes) {
  std::vector<uint8_t> a(100), b(3000);
  std::iota(a.begin(), a.end(), 1);
  std::iota(b.begin(), b.end(), 7);
  iovec iov[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  TxCopy copy(4);
  transport::Counter copied;
  EXPECT_EQ(copy.stage(3, iov, copied), 1u);
  EXPECT_EQ(copied.get(), 3100u);
  ASSERT_EQ(iov[0].iov_len, 3100u);
  const auto* out = static_cast<const uint8_t*>(iov[0].iov_base);
  EXPECT_NE(out, a.data());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), out));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), out + a.size()));
}

TEST(TxCopy, LeavesWhatItCannotHoldAsItIs) {
  std::vector<uint8_t> big(TxCopy::kSlotBytes + 1);
  iovec iov[1] = {{big.data(), big.size()}};
  TxCopy copy(1);
  transport::Counter copied;
  EXPECT_EQ(copy.stage(0, iov, copied), 1u);
  EXPECT_EQ(iov[0].iov_base, big.data());
  EXPECT_EQ(copied.get(), 0u);
  EXPECT_EQ(copy.stage(0, {}, copied), 0u) << "no payload, nothing to copy";
}

TEST(RxPerQpRings, EachQpGetsARingThatHoldsThePacketItProcesses) {
  RxPerQpRings rings;
  EXPECT_EQ(rings.bytes(), 0u);
  std::vector<uint8_t> dgram(1000);
  std::iota(dgram.begin(), dgram.end(), 0);
  wire::Packet pkt;
  pkt.payload = dgram.data() + 12;
  pkt.payload_len = 900;
  rings.stage(17, dgram.data(), uint32_t(dgram.size()), pkt);
  EXPECT_NE(pkt.payload, dgram.data() + 12) << "the QP reads the staged copy";
  EXPECT_TRUE(std::equal(dgram.begin() + 12, dgram.begin() + 912, pkt.payload));
  EXPECT_EQ(rings.bytes(), RxPerQpRings::kRingBytes);
  for (uint32_t qpn = 100; qpn < 110; ++qpn) {
    wire::Packet p;
    rings.stage(qpn, dgram.data(), uint32_t(dgram.size()), p);
    EXPECT_EQ(p.payload, nullptr) << "a packet without payload stays without";
  }
  EXPECT_EQ(rings.bytes(), 11u * RxPerQpRings::kRingBytes) << "grows with the QPs";
  rings.release(17);
  rings.release(17);
  EXPECT_EQ(rings.bytes(), 10u * RxPerQpRings::kRingBytes);
  EXPECT_EQ(rings.peak_bytes(), 11u * RxPerQpRings::kRingBytes);
}

TEST(RxPerQpRings, WrapsAroundItsRing) {
  RxPerQpRings rings;
  std::vector<uint8_t> dgram(4000, 0xab);
  const uint8_t* first = nullptr;
  for (uint32_t i = 0; i <= RxPerQpRings::kRingBytes / 4032; ++i) {
    wire::Packet pkt;
    pkt.payload = dgram.data();
    rings.stage(5, dgram.data(), uint32_t(dgram.size()), pkt);
    if (i == 0) first = pkt.payload;
    else if (i == RxPerQpRings::kRingBytes / 4032) EXPECT_EQ(pkt.payload, first) << "back at the start";
    else EXPECT_GT(pkt.payload, first);
  }
  EXPECT_EQ(rings.bytes(), RxPerQpRings::kRingBytes);
}

}  // namespace
}  // namespace flexins::engine
