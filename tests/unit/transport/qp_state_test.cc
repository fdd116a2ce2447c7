// ibv_modify_qp validation (qp_state.*) and the QP-level effects of state
// changes: the host-visible state mirror, RESET forgetting everything, ERR
// flushing.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "harness.h"
#include "transport/qp_state.h"

namespace flexins::transport::test {
namespace {

constexpr int kInitMask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
constexpr int kRtrMask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                         IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
constexpr int kRtsMask = IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                         IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;

// Every attribute set to a valid value.
ibv_qp_attr valid_attr(ibv_qp_state to) {
  ibv_qp_attr a{};
  a.qp_state = to;
  a.port_num = 1;
  a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
  a.path_mtu = IBV_MTU_1024;
  a.dest_qp_num = 0x1234;
  a.rq_psn = 1;
  a.sq_psn = 2;
  a.max_dest_rd_atomic = 4;
  a.max_rd_atomic = 4;
  a.min_rnr_timer = 12;
  a.timeout = 14;
  a.retry_cnt = 7;
  a.rnr_retry = 7;
  a.ah_attr.is_global = 1;
  a.ah_attr.port_num = 1;
  a.ah_attr.grh.dgid.raw[10] = 0xff;
  a.ah_attr.grh.dgid.raw[11] = 0xff;
  a.ah_attr.grh.dgid.raw[12] = 10;
  a.ah_attr.grh.dgid.raw[15] = 2;
  return a;
}

int mask_for(ibv_qp_state from, ibv_qp_state to) {
  if (from == IBV_QPS_RESET && to == IBV_QPS_INIT) return kInitMask;
  if (from == IBV_QPS_INIT && to == IBV_QPS_RTR) return kRtrMask;
  if (from == IBV_QPS_RTR && to == IBV_QPS_RTS) return kRtsMask;
  // Otherwise whatever the target would need from its usual predecessor.
  if (to == IBV_QPS_INIT) return kInitMask;
  if (to == IBV_QPS_RTR) return kRtrMask;
  if (to == IBV_QPS_RTS) return kRtsMask;
  return IBV_QP_STATE;
}

// This device's address (network byte order); valid_attr's GID names 10.0.0.2.
const uint32_t kLocalIp = htonl(0x0a000001);

int validate(ibv_qp_state from, const ibv_qp_attr& a, int mask, uint32_t local_ip = kLocalIp) {
  ibv_qp_state next;
  return validate_modify(IBV_QPT_RC, from, a, mask, local_ip, next);
}

TEST(ModifyQp, EveryTransitionIsLegalOrEinval) {
  const ibv_qp_state states[] = {IBV_QPS_RESET, IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS,
                                 IBV_QPS_SQD,   IBV_QPS_SQE,  IBV_QPS_ERR};
  auto legal = [](ibv_qp_state f, ibv_qp_state t) {
    if (t == IBV_QPS_RESET || t == IBV_QPS_ERR) return true;  // from anywhere (IBA 10.3.1)
    return (f == IBV_QPS_RESET && t == IBV_QPS_INIT) || (f == IBV_QPS_INIT && t == IBV_QPS_INIT) ||
           (f == IBV_QPS_INIT && t == IBV_QPS_RTR) || (f == IBV_QPS_RTR && t == IBV_QPS_RTS);
  };
  for (ibv_qp_state from : states) {
    for (ibv_qp_state to : states) {
      ibv_qp_attr a = valid_attr(to);
      int mask = mask_for(from, to);
      if (from == to && (to == IBV_QPS_INIT || to == IBV_QPS_RTS)) mask = IBV_QP_STATE;
      const bool ok = legal(from, to) || (from == IBV_QPS_RTS && to == IBV_QPS_RTS);
      EXPECT_EQ(validate(from, a, mask), ok ? 0 : EINVAL)
          << qp_state_name(from) << " -> " << qp_state_name(to);
    }
  }
}

TEST(ModifyQp, EachMissingRequiredAttributeIsEinval) {
  struct Step {
    ibv_qp_state from, to;
    int mask;
  } steps[] = {{IBV_QPS_RESET, IBV_QPS_INIT, kInitMask},
               {IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask},
               {IBV_QPS_RTR, IBV_QPS_RTS, kRtsMask}};
  for (const Step& s : steps) {
    ibv_qp_attr a = valid_attr(s.to);
    ASSERT_EQ(validate(s.from, a, s.mask), 0) << qp_state_name(s.to);
    for (int bit = 1; bit != 0 && bit <= IBV_QP_DEST_QPN; bit <<= 1) {
      if (!(s.mask & bit) || bit == IBV_QP_STATE) continue;
      EXPECT_EQ(validate(s.from, a, s.mask & ~bit), EINVAL)
          << qp_state_name(s.to) << " without attribute bit 0x" << std::hex << bit;
    }
  }
}

TEST(ModifyQp, AttributesOutsideTheTransitionAreEinval) {
  ibv_qp_attr a = valid_attr(IBV_QPS_INIT);
  EXPECT_EQ(validate(IBV_QPS_RESET, a, kInitMask | IBV_QP_SQ_PSN), EINVAL);
  a = valid_attr(IBV_QPS_RTR);
  EXPECT_EQ(validate(IBV_QPS_INIT, a, kRtrMask | IBV_QP_TIMEOUT), EINVAL);
  a = valid_attr(IBV_QPS_RTS);
  EXPECT_EQ(validate(IBV_QPS_RTR, a, kRtsMask | IBV_QP_PATH_MTU), EINVAL);
  // Optional ones are fine.
  EXPECT_EQ(validate(IBV_QPS_RTR, a, kRtsMask | IBV_QP_MIN_RNR_TIMER), 0);
  EXPECT_EQ(validate(IBV_QPS_RTS, a, IBV_QP_STATE | IBV_QP_MIN_RNR_TIMER), 0);
  // Only STATE for RESET / ERR.
  a = valid_attr(IBV_QPS_ERR);
  EXPECT_EQ(validate(IBV_QPS_RTS, a, IBV_QP_STATE | IBV_QP_SQ_PSN), EINVAL);
}

TEST(ModifyQp, OutOfRangeValuesAreEinval) {
  struct Bad {
    const char* what;
    ibv_qp_state from, to;
    int mask;
    void (*spoil)(ibv_qp_attr&);
  } cases[] = {
      {"port 2", IBV_QPS_RESET, IBV_QPS_INIT, kInitMask, [](ibv_qp_attr& a) { a.port_num = 2; }},
      {"port 0", IBV_QPS_RESET, IBV_QPS_INIT, kInitMask, [](ibv_qp_attr& a) { a.port_num = 0; }},
      {"pkey index 1", IBV_QPS_RESET, IBV_QPS_INIT, kInitMask,
       [](ibv_qp_attr& a) { a.pkey_index = 1; }},
      {"mtu 0", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask, [](ibv_qp_attr& a) { a.path_mtu = ibv_mtu(0); }},
      {"mtu 6", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask, [](ibv_qp_attr& a) { a.path_mtu = ibv_mtu(6); }},
      {"dest qpn 2^24", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) { a.dest_qp_num = 1u << 24; }},
      {"min rnr timer 32", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) { a.min_rnr_timer = 32; }},
      {"max dest rd atomic 17", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) { a.max_dest_rd_atomic = 17; }},
      {"not global, no DLID", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) { a.ah_attr.is_global = 0; }},
      {"not global, permissive DLID", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) {
         a.ah_attr.is_global = 0;
         a.ah_attr.dlid = 0xffff;
       }},
      {"not an IPv4-mapped gid", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) { a.ah_attr.grh.dgid.raw[0] = 0xfe; }},
      {"sgid index 1", IBV_QPS_INIT, IBV_QPS_RTR, kRtrMask,
       [](ibv_qp_attr& a) { a.ah_attr.grh.sgid_index = 1; }},
      {"timeout 32", IBV_QPS_RTR, IBV_QPS_RTS, kRtsMask, [](ibv_qp_attr& a) { a.timeout = 32; }},
      {"retry 8", IBV_QPS_RTR, IBV_QPS_RTS, kRtsMask, [](ibv_qp_attr& a) { a.retry_cnt = 8; }},
      {"rnr retry 8", IBV_QPS_RTR, IBV_QPS_RTS, kRtsMask, [](ibv_qp_attr& a) { a.rnr_retry = 8; }},
      {"max rd atomic 17", IBV_QPS_RTR, IBV_QPS_RTS, kRtsMask,
       [](ibv_qp_attr& a) { a.max_rd_atomic = 17; }},
      {"unknown state", IBV_QPS_RTR, IBV_QPS_RTS, kRtsMask,
       [](ibv_qp_attr& a) { a.qp_state = IBV_QPS_UNKNOWN; }},
  };
  for (const Bad& c : cases) {
    ibv_qp_attr a = valid_attr(c.to);
    ASSERT_EQ(validate(c.from, a, c.mask), 0) << c.what;
    c.spoil(a);
    EXPECT_EQ(validate(c.from, a, c.mask), EINVAL) << c.what;
  }
}

// FlexiNS's LID routing (pipe/lid.h): where a path leads, with and
// without a GRH.
TEST(PathDestination, AGrhLeadsToItsGidsAddressAndADlidBesideItIsIgnored) {
  ibv_ah_attr ah = valid_attr(IBV_QPS_RTR).ah_attr;
  ah.dlid = 0x0007;
  uint32_t dest = 0;
  ASSERT_TRUE(path_destination(ah, kLocalIp, dest));
  EXPECT_EQ(dest, htonl(0x0a000002));
  ah.grh.sgid_index = 1;  // we have one GID
  EXPECT_FALSE(path_destination(ah, kLocalIp, dest));
}

TEST(PathDestination, WithoutAGrhADlidLeadsToThatHostInOurSlash16) {
  ibv_ah_attr ah{};
  ah.is_global = 0;
  ah.port_num = 1;
  ah.dlid = 0x0102;
  ah.grh.sgid_index = 5;  // no GRH: its fields are not looked at
  uint32_t dest = 0;
  ASSERT_TRUE(path_destination(ah, htonl(0x0a140304), dest));  // from 10.20.3.4
  EXPECT_EQ(dest, htonl(0x0a140102));                           // 10.20.1.2
  ah.dlid = 0;
  EXPECT_FALSE(path_destination(ah, htonl(0x0a140304), dest)) << "LID 0 names no host";
  ah.dlid = 0xffff;
  EXPECT_FALSE(path_destination(ah, htonl(0x0a140304), dest)) << "the permissive LID";
  ah.dlid = 0x0102;
  EXPECT_FALSE(path_destination(ah, htonl(0x0a140000), dest)) << "10.20.0.0 has no LID to route from";
}

TEST(ModifyQp, AnRcPathWithoutAGrhTakesTheDlidsHostAndQueryShowsThePathAsGiven) {
  ibv_qp_attr a = valid_attr(IBV_QPS_RTR);
  std::memset(&a.ah_attr.grh, 0, sizeof a.ah_attr.grh);
  a.ah_attr.is_global = 0;
  a.ah_attr.dlid = 0x0002;
  a.ah_attr.sl = 0;
  EXPECT_EQ(validate(IBV_QPS_INIT, a, kRtrMask), 0);
  EXPECT_EQ(validate(IBV_QPS_INIT, a, kRtrMask, htonl(0x0a000000)), EINVAL)
      << "an engine without a LID routes none";
  QpAttrs attrs;
  apply_modify(attrs, a, kRtrMask, kLocalIp);
  EXPECT_EQ(attrs.dest_ip, htonl(0x0a000002));
  EXPECT_EQ(attrs.attr.ah_attr.is_global, 0);
  EXPECT_EQ(attrs.attr.ah_attr.dlid, 0x0002);
}

// A (10.0.0.1) and B (10.0.0.2) connected by paths that carry no GRH, only
// each other's LID, as qperf connects them without the RDMA CM.
TEST(ModifyQp, RcQpsConnectedByLidAloneCarryDataAndReportThePeersLid) {
  Fabric f;
  Side& a = f.a();
  Side& b = f.b();
  ASSERT_EQ(a.ip, htonl(0x0a000001));
  ASSERT_EQ(b.ip, htonl(0x0a000002));
  ASSERT_EQ(Fabric::modify_to_init(*a.qp, a.opt.access), 0);
  ASSERT_EQ(Fabric::modify_to_init(*b.qp, b.opt.access), 0);
  ASSERT_EQ(Fabric::modify_to_rtr_by_lid(*a.qp, a.opt, 0x0002, b.qpn, 0x200), 0);
  ASSERT_EQ(Fabric::modify_to_rtr_by_lid(*b.qp, b.opt, 0x0001, a.qpn, 0x100), 0);
  ASSERT_EQ(Fabric::modify_to_rts(*a.qp, a.opt, 0x100), 0);
  ASSERT_EQ(Fabric::modify_to_rts(*b.qp, b.opt, 0x200), 0);

  constexpr uint32_t kSize = 3000;  // three packets at MTU 1024
  Buffer src = a.reg(kSize);
  Buffer dst = b.reg(kSize);
  for (uint32_t i = 0; i < kSize; ++i) src.data[i] = uint8_t(i * 7);
  b.post_recv(1, {dst.sge(0, kSize)});
  a.post_send(make_wqe(2, IBV_WR_SEND), {src.sge(0, kSize)});
  f.run();

  auto sc = a.send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  auto rc = b.recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rc[0].byte_len, kSize);
  EXPECT_EQ(rc[0].slid, 0x0001) << "the sender's LID";
  EXPECT_EQ(std::memcmp(dst.data, src.data, kSize), 0);
  EXPECT_EQ(b.counters().rx_drop_misaddressed.get(), 0u);
}

TEST(ModifyQp, ClaimedCurrentStateMustMatch) {
  ibv_qp_attr a = valid_attr(IBV_QPS_RTS);
  a.cur_qp_state = IBV_QPS_RTR;
  EXPECT_EQ(validate(IBV_QPS_RTR, a, kRtsMask | IBV_QP_CUR_STATE), 0);
  a.cur_qp_state = IBV_QPS_INIT;
  EXPECT_EQ(validate(IBV_QPS_RTR, a, kRtsMask | IBV_QP_CUR_STATE), EINVAL);
}

TEST(ModifyQp, TimeoutEncodingHasAFloorAndZeroIsInfinite) {
  EXPECT_EQ(retransmit_timeout_ns(0), 0u);
  EXPECT_EQ(retransmit_timeout_ns(1), 1'000'000u);          // 8 us raised to the floor
  EXPECT_EQ(retransmit_timeout_ns(14), 4096ull << 14);      // 67.1 ms
  EXPECT_EQ(retransmit_timeout_ns(31), 4096ull << 31);
}

TEST(ModifyQp, QpMirrorsItsStateToTheHostAndQueryReportsAttributes) {
  Fabric f;
  Side& a = f.a();
  EXPECT_EQ(a.shm->state.load(), uint32_t(IBV_QPS_RESET));
  ASSERT_EQ(Fabric::modify_to_init(*a.qp, IBV_ACCESS_REMOTE_READ), 0);
  EXPECT_EQ(a.shm->state.load(), uint32_t(IBV_QPS_INIT));
  // A failed modify changes nothing.
  ibv_qp_attr bad = valid_attr(IBV_QPS_RTS);
  EXPECT_EQ(a.qp->modify(bad, kRtsMask), EINVAL);
  EXPECT_EQ(a.qp->state(), IBV_QPS_INIT);
}

TEST(ModifyQp, ConnectThenQuery) {
  Fabric f;
  f.connect();
  ibv_qp_attr attr{};
  ibv_qp_init_attr init{};
  f.a().qp->query(attr, init);
  EXPECT_EQ(attr.qp_state, IBV_QPS_RTS);
  EXPECT_EQ(attr.path_mtu, IBV_MTU_1024);
  EXPECT_EQ(attr.dest_qp_num, f.b().qpn);
  EXPECT_EQ(attr.sq_psn, 0xfffff0u);
  EXPECT_EQ(attr.rq_psn, 0x123456u);
  EXPECT_EQ(attr.timeout, 14);
  EXPECT_EQ(init.qp_type, IBV_QPT_RC);
  EXPECT_EQ(f.a().shm->state.load(), uint32_t(IBV_QPS_RTS));
}

TEST(ModifyQp, ErrorFlushesPostedWorkAndResetMakesTheQpReusable) {
  Fabric f;
  f.connect();
  Buffer buf = f.a().reg(64);
  f.a().post_recv(1, {buf.sge(0, 64)});
  f.a().post_recv(2, {buf.sge(0, 64)});
  ibv_qp_attr err{};
  err.qp_state = IBV_QPS_ERR;
  ASSERT_EQ(f.a().qp->modify(err, IBV_QP_STATE), 0);
  EXPECT_EQ(f.a().shm->state.load(), uint32_t(IBV_QPS_ERR));
  auto rc = f.a().recv_cqes();
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_EQ(rc[0].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(rc[1].wr_id, 2u);
  // A send posted in ERR completes flushed at once.
  f.a().post_send(make_wqe(9, IBV_WR_SEND), {buf.sge(0, 8)});
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].wr_id, 9u);
  EXPECT_EQ(sc[0].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_TRUE(f.a().env->events.empty()) << "an asked-for ERR raises no async event";

  // ERR → RESET → connect again, on both sides, and traffic flows.
  ibv_qp_attr reset{};
  reset.qp_state = IBV_QPS_RESET;
  ASSERT_EQ(f.a().qp->modify(reset, IBV_QP_STATE), 0);
  ASSERT_EQ(f.b().qp->modify(reset, IBV_QP_STATE), 0);
  EXPECT_EQ(f.a().shm->state.load(), uint32_t(IBV_QPS_RESET));
  f.connect();
  Buffer dst = f.b().reg(64);
  f.b().post_recv(3, {dst.sge(0, 64)});
  f.a().post_send(make_wqe(4, IBV_WR_SEND), {buf.sge(0, 64)});
  f.run();
  sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
}

TEST(ModifyQp, PacketsToAQpInResetOrInitAreDroppedAndCounted) {
  Fabric f;
  // B stays in RESET; A is connected to it.
  Side& a = f.a();
  ASSERT_EQ(Fabric::modify_to_init(*a.qp, a.opt.access), 0);
  ASSERT_EQ(Fabric::modify_to_rtr(*a.qp, a.opt, f.b().ip, f.b().qpn, 0), 0);
  ASSERT_EQ(Fabric::modify_to_rts(*a.qp, a.opt, 0), 0);
  Buffer buf = a.reg(64);
  a.post_send(make_wqe(1, IBV_WR_SEND), {buf.sge(0, 64)});
  f.pump(0);
  f.deliver_all();
  EXPECT_EQ(f.b().counters().rx_drop_qp_state.get(), 1u);
  ASSERT_EQ(Fabric::modify_to_init(*f.b().qp, 0), 0);
  f.advance(100'000'000);  // the timeout resends it
  f.pump(0);
  f.deliver_all();
  EXPECT_EQ(f.b().counters().rx_drop_qp_state.get(), 2u);
  // In RTR B serves it, and says the connection is established (once).
  ASSERT_EQ(Fabric::modify_to_rtr(*f.b().qp, f.b().opt, a.ip, a.qpn, 0), 0);
  Buffer dst = f.b().reg(64);
  f.b().post_recv(1, {dst.sge(0, 64)});
  f.advance(200'000'000);
  f.pump(0);
  f.deliver_all();
  ASSERT_EQ(f.b().env->events.size(), 1u);
  EXPECT_EQ(f.b().env->events[0], IBV_EVENT_COMM_EST);
  EXPECT_EQ(f.b().recv_cqes().size(), 1u);
  EXPECT_EQ(f.b().qp->state(), IBV_QPS_RTR);
}

}  // namespace
}  // namespace flexins::transport::test
