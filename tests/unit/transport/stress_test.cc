// Randomized, seeded stress: both QPs post a mix of SEND (with and without
// immediate, some inline), WRITE, WRITE with immediate, READ and FetchAdd
// at random sizes while the wire loses, duplicates and reorders 1 % of the
// packets each. Every byte must arrive exactly, every WQE must complete
// successfully and in order, and nothing may be placed twice.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "harness.h"

namespace flexins::transport::test {
namespace {

constexpr uint32_t kMaxMsg = 20000;
constexpr uint32_t kSlots = 64;  // message slots per direction and batch

struct Direction {
  int from;
  Buffer src;      // sender's source data (kSlots * kMaxMsg)
  Buffer recv;     // receiver's receive buffers
  Buffer target;   // receiver's WRITE target / READ source
  Buffer readback; // sender's READ destination
  Buffer counter;  // receiver's FetchAdd word
  Buffer orig;     // sender's FetchAdd results
  uint64_t added = 0;
};

enum class Op { kSend, kSendImm, kSendInline, kWrite, kWriteImm, kRead, kFetchAdd };

struct Posted {
  Op op;
  uint32_t slot;
  uint32_t len;
  uint32_t seed;
};

class Stress : public ::testing::TestWithParam<uint64_t> {};

TEST_P(Stress, MixedOperationsUnderLossDuplicationAndReordering) {
  const uint64_t seed = GetParam();
  std::mt19937_64 rng(seed);
  QpOptions o;
  o.mtu = IBV_MTU_1024;
  o.timeout = 8;  // ~1 ms: keeps simulated time short
  o.retry_cnt = 7;
  o.min_rnr_timer = 1;
  Fabric f(o, o, seed);
  f.connect();
  f.set_faults(Faults{0.01, 0.01, 0.01});

  Direction dirs[2];
  for (int d = 0; d < 2; ++d) {
    Side& s = f.side(d);
    Side& r = f.side(1 - d);
    dirs[d].from = d;
    dirs[d].src = s.reg(kSlots * kMaxMsg);
    dirs[d].recv = r.reg(kSlots * kMaxMsg);
    dirs[d].target = r.reg(kSlots * kMaxMsg);
    dirs[d].readback = s.reg(kSlots * kMaxMsg);
    dirs[d].counter = r.reg(8);
    dirs[d].orig = s.reg(kSlots * 8);
    std::memset(dirs[d].counter.data, 0, 8);
  }

  uint64_t wr_id[2] = {0, 0};
  uint64_t total_ops = 0;
  for (int batch = 0; batch < 12; ++batch) {
    std::vector<Posted> posted[2];
    for (int d = 0; d < 2; ++d) {
      Direction& dir = dirs[d];
      Side& s = f.side(d);
      Side& r = f.side(1 - d);
      const uint32_t n = 1 + uint32_t(rng() % kSlots);
      for (uint32_t slot = 0; slot < n; ++slot) {
        Posted p;
        p.op = Op(rng() % 7);
        p.slot = slot;
        p.len = uint32_t(rng() % kMaxMsg);
        if (rng() % 4 == 0) p.len = uint32_t(rng() % 64);
        p.seed = uint32_t(rng());
        const uint64_t off = uint64_t(slot) * kMaxMsg;
        fill_pattern(dir.src.data + off, p.len, p.seed);
        std::memset(dir.recv.data + off, 0, kMaxMsg);
        std::memset(dir.readback.data + off, 0, kMaxMsg);
        fill_pattern(dir.target.data + off, kMaxMsg, p.seed ^ 0x5555);
        pipe::SendWqe w = make_wqe(wr_id[d]++, IBV_WR_SEND);
        switch (p.op) {
          case Op::kSendImm:
            w.opcode = IBV_WR_SEND_WITH_IMM;
            w.imm_data = htonl(p.seed);
            [[fallthrough]];
          case Op::kSend:
            r.post_recv(slot, {dir.recv.sge(off, kMaxMsg)});
            s.post_send(w, {dir.src.sge(off, p.len)});
            break;
          case Op::kSendInline:
            p.len %= 400;
            r.post_recv(slot, {dir.recv.sge(off, kMaxMsg)});
            s.post_send_inline(w, dir.src.data + off, p.len);
            break;
          case Op::kWriteImm:
            w.imm_data = htonl(p.seed);
            r.post_recv(slot, {dir.recv.sge(off, 1)});
            w.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
            w.remote_addr = dir.target.addr + off;
            w.rkey = dir.target.rkey;
            s.post_send(w, {dir.src.sge(off, p.len)});
            break;
          case Op::kWrite:
            w.opcode = IBV_WR_RDMA_WRITE;
            w.remote_addr = dir.target.addr + off;
            w.rkey = dir.target.rkey;
            s.post_send(w, {dir.src.sge(off, p.len)});
            break;
          case Op::kRead:
            w.opcode = IBV_WR_RDMA_READ;
            w.remote_addr = dir.target.addr + off;
            w.rkey = dir.target.rkey;
            s.post_send(w, {dir.readback.sge(off, p.len)});
            break;
          case Op::kFetchAdd:
            w.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
            w.remote_addr = dir.counter.addr;
            w.rkey = dir.counter.rkey;
            w.compare_add = p.seed;
            dir.added += p.seed;
            p.len = 8;
            s.post_send(w, {dir.orig.sge(slot * 8, 8)});
            break;
        }
        posted[d].push_back(p);
      }
    }
    f.run(60'000'000'000ull);

    for (int d = 0; d < 2; ++d) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << " batch " << batch << " dir " << d);
      Direction& dir = dirs[d];
      Side& s = f.side(d);
      Side& r = f.side(1 - d);
      ASSERT_EQ(s.qp->state(), IBV_QPS_RTS);
      auto sc = s.send_cqes();
      ASSERT_EQ(sc.size(), posted[d].size());
      const uint64_t first_id = wr_id[d] - posted[d].size();
      for (size_t i = 0; i < sc.size(); ++i) {
        ASSERT_EQ(sc[i].status, IBV_WC_SUCCESS) << "wqe " << i;
        ASSERT_EQ(sc[i].wr_id, first_id + i) << "out of order";
      }
      auto rc = r.recv_cqes();
      size_t next_recv = 0;
      for (const Posted& p : posted[d]) {
        const uint64_t off = uint64_t(p.slot) * kMaxMsg;
        const uint8_t* sent = dir.src.data + off;
        switch (p.op) {
          case Op::kSend:
          case Op::kSendImm:
          case Op::kSendInline: {
            ASSERT_LT(next_recv, rc.size());
            const pipe::Cqe& c = rc[next_recv++];
            ASSERT_EQ(c.status, IBV_WC_SUCCESS);
            ASSERT_EQ(c.wr_id, p.slot);
            ASSERT_EQ(c.byte_len, p.len);
            ASSERT_EQ(std::memcmp(dir.recv.data + off, sent, p.len), 0) << "SEND slot " << p.slot;
            if (p.op == Op::kSendImm) {
              ASSERT_EQ(c.imm_data, htonl(p.seed));
            }
            break;
          }
          case Op::kWriteImm: {
            ASSERT_LT(next_recv, rc.size());
            const pipe::Cqe& c = rc[next_recv++];
            ASSERT_EQ(c.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
            ASSERT_EQ(c.imm_data, htonl(p.seed));
            [[fallthrough]];
          }
          case Op::kWrite:
            ASSERT_EQ(std::memcmp(dir.target.data + off, sent, p.len), 0) << "WRITE " << p.slot;
            break;
          case Op::kRead:
            ASSERT_EQ(std::memcmp(dir.readback.data + off, dir.target.data + off, p.len), 0)
                << "READ " << p.slot;
            break;
          case Op::kFetchAdd:
            break;
        }
      }
      ASSERT_EQ(next_recv, rc.size()) << "a receive completed twice or spuriously";
      uint64_t counter;
      std::memcpy(&counter, dir.counter.data, 8);
      ASSERT_EQ(counter, dir.added) << "an atomic ran twice or not at all";
      total_ops += posted[d].size();
    }
  }
  EXPECT_GT(total_ops, 100u);
  // The faults did happen, and were recovered from.
  EXPECT_GT(f.dropped_by_faults, 0u);
  EXPECT_GT(f.a().counters().retransmitted_packets.get() +
                f.b().counters().retransmitted_packets.get(),
            0u);
  EXPECT_EQ(f.bad_out_packets, 0u);
  EXPECT_EQ(f.a().counters().tx_payload_bytes_copied.get(), 0u);
  // For the curious: how much recovery the run needed.
  auto sum = [&](Counter Counters::*c) {
    return int((f.a().counters().*c).get() + (f.b().counters().*c).get());
  };
  RecordProperty("delivered", int(f.delivered));
  RecordProperty("dropped", int(f.dropped_by_faults));
  RecordProperty("retransmitted", sum(&Counters::retransmitted_packets));
  RecordProperty("timeouts", sum(&Counters::retransmit_timeouts));
  RecordProperty("seq_naks", sum(&Counters::naks_sent_psn_sequence));
  RecordProperty("duplicates", sum(&Counters::duplicate_requests));
  RecordProperty("ghosts", sum(&Counters::rx_drop_ghost_response));
  RecordProperty("reads_replayed", sum(&Counters::read_responses_replayed));
}

INSTANTIATE_TEST_SUITE_P(Seeds, Stress, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));

}  // namespace
}  // namespace flexins::transport::test
