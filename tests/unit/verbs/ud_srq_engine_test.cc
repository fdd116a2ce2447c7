// UD queue pairs, address handles and shared receive queues through the
// verbs library against a real engine: the errnos the man pages promise,
// datagrams through loopback with the GRH that ibv_create_ah_from_wc reads
// back, and the SRQ limit and Last WQE Reached async events.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <infiniband/verbs.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "engine_fixture.h"

namespace flexins::verbs {
namespace {

using testing::EngineProcess;
using testing::open_engine_device;
using testing::post_recv;

constexpr uint32_t kQkey = 0x11111111;
constexpr uint32_t kGrh = 40;

class UdSrqWithEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { engine_ = new EngineProcess; }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(engine_->ready()) << "flexins daemon did not come up";
    ctx_ = open_engine_device();
    ASSERT_NE(ctx_, nullptr) << strerror(errno);
    pd_ = ibv_alloc_pd(ctx_);
    ASSERT_NE(pd_, nullptr) << strerror(errno);
    ASSERT_EQ(ibv_query_gid(ctx_, 1, 0, &gid_), 0);
  }
  void TearDown() override {
    if (pd_) {
      EXPECT_EQ(ibv_dealloc_pd(pd_), 0);
    }
    if (ctx_) {
      EXPECT_EQ(ibv_close_device(ctx_), 0);
    }
  }

  ibv_qp* make_ud_qp(ibv_cq* cq, uint32_t inline_bytes = 0) {
    ibv_qp_init_attr a{};
    a.send_cq = cq;
    a.recv_cq = cq;
    a.qp_type = IBV_QPT_UD;
    a.cap.max_send_wr = 16;
    a.cap.max_recv_wr = 16;
    a.cap.max_send_sge = 1;
    a.cap.max_recv_sge = 1;
    a.cap.max_inline_data = inline_bytes;
    return ibv_create_qp(pd_, &a);
  }
  void ud_to_rts(ibv_qp* qp) {
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_INIT;
    a.port_num = 1;
    a.qkey = kQkey;
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY), 0);
    a = {};
    a.qp_state = IBV_QPS_RTR;
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE), 0);
    a.qp_state = IBV_QPS_RTS;
    a.sq_psn = 0x42;
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN), 0);
  }
  ibv_ah_attr ah_to_self() const {
    ibv_ah_attr a{};
    a.is_global = 1;
    a.grh.dgid = gid_;
    a.grh.hop_limit = 1;
    a.port_num = 1;
    return a;
  }
  // An RC QP (on `srq` if given) connected to `remote_qpn` on our own address.
  ibv_qp* make_rc_qp(ibv_cq* cq, ibv_srq* srq) {
    ibv_qp_init_attr a{};
    a.send_cq = cq;
    a.recv_cq = cq;
    a.srq = srq;
    a.qp_type = IBV_QPT_RC;
    a.cap.max_send_wr = 16;
    a.cap.max_recv_wr = srq ? 0 : 16;
    a.cap.max_send_sge = 1;
    a.cap.max_recv_sge = srq ? 0 : 1;
    return ibv_create_qp(pd_, &a);
  }
  void rc_connect(ibv_qp* qp, uint32_t remote_qpn) {
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_INIT;
    a.port_num = 1;
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
    a = {};
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = IBV_MTU_1024;
    a.dest_qp_num = remote_qpn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 1;
    a.ah_attr = ah_to_self();
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                                        IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER),
              0);
    a = {};
    a.qp_state = IBV_QPS_RTS;
    a.timeout = 14;
    a.retry_cnt = 7;
    a.rnr_retry = 7;
    a.max_rd_atomic = 1;
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                                        IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC),
              0);
  }
  std::vector<ibv_wc> poll_n(ibv_cq* cq, size_t n) {
    std::vector<ibv_wc> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      ibv_wc wc[8];
      int got = ibv_poll_cq(cq, 8, wc);
      EXPECT_GE(got, 0);
      if (got < 0) break;
      out.insert(out.end(), wc, wc + got);
    }
    return out;
  }
  // The next async event within 5 s.
  bool next_async_event(ibv_async_event& ev) {
    pollfd p{ctx_->async_fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    return ibv_get_async_event(ctx_, &ev) == 0;
  }
  int send_ud(ibv_qp* qp, ibv_ah* ah, uint32_t remote_qpn, const void* buf, uint32_t len, uint32_t lkey,
              uint64_t wr_id, uint32_t flags = IBV_SEND_SIGNALED) {
    ibv_sge s{reinterpret_cast<uintptr_t>(buf), len, lkey};
    ibv_send_wr w{};
    w.wr_id = wr_id;
    w.sg_list = &s;
    w.num_sge = 1;
    w.opcode = IBV_WR_SEND_WITH_IMM;
    w.imm_data = htonl(uint32_t(wr_id));
    w.send_flags = flags;
    w.wr.ud.ah = ah;
    w.wr.ud.remote_qpn = remote_qpn;
    w.wr.ud.remote_qkey = kQkey;
    ibv_send_wr* bad;
    return ibv_post_send(qp, &w, &bad);
  }
  int post_srq(ibv_srq* srq, void* buf, uint32_t len, uint32_t lkey, uint64_t wr_id) {
    ibv_sge s{reinterpret_cast<uintptr_t>(buf), len, lkey};
    ibv_recv_wr w{};
    w.wr_id = wr_id;
    w.sg_list = &s;
    w.num_sge = 1;
    ibv_recv_wr* bad;
    return ibv_post_srq_recv(srq, &w, &bad);
  }

  static EngineProcess* engine_;
  ibv_context* ctx_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_gid gid_{};
};
EngineProcess* UdSrqWithEngine::engine_ = nullptr;

TEST_F(UdSrqWithEngine, AddressHandlesAreValidatedAndHoldTheirPd) {
  ibv_ah_attr a = ah_to_self();
  // No GRH: only a LID that names a host leads anywhere (pipe/lid.h).
  a.is_global = 0;
  for (uint16_t bad : {uint16_t(0), uint16_t(0xffff)}) {
    a.dlid = bad;
    errno = 0;
    EXPECT_EQ(ibv_create_ah(pd_, &a), nullptr) << "DLID " << bad;
    EXPECT_EQ(errno, EINVAL);
  }
  a = ah_to_self();
  a.grh.dgid.raw[10] = 0;  // not IPv4-mapped
  EXPECT_EQ(ibv_create_ah(pd_, &a), nullptr);
  EXPECT_EQ(errno, EINVAL);
  a = ah_to_self();
  a.port_num = 2;
  EXPECT_EQ(ibv_create_ah(pd_, &a), nullptr);
  EXPECT_EQ(errno, EINVAL);
  a = ah_to_self();
  ibv_ah* ah = ibv_create_ah(pd_, &a);
  ASSERT_NE(ah, nullptr) << strerror(errno);
  EXPECT_EQ(ah->pd, pd_);
  EXPECT_EQ(ibv_dealloc_pd(pd_), EBUSY);
  EXPECT_EQ(ibv_destroy_ah(ah), 0);
}

TEST_F(UdSrqWithEngine, DatagramsCarryAGrhThatLeadsBackToTheSender) {
  ibv_cq* cq_a = ibv_create_cq(ctx_, 64, nullptr, nullptr, 0);
  ibv_cq* cq_b = ibv_create_cq(ctx_, 64, nullptr, nullptr, 0);
  ASSERT_TRUE(cq_a && cq_b);
  ibv_qp* a = make_ud_qp(cq_a, 128);
  ibv_qp* b = make_ud_qp(cq_b);
  ASSERT_TRUE(a && b) << strerror(errno);
  ud_to_rts(a);
  ud_to_rts(b);
  ibv_qp_attr qattr{};
  ibv_qp_init_attr qinit{};
  ASSERT_EQ(ibv_query_qp(a, &qattr, IBV_QP_QKEY | IBV_QP_CAP, &qinit), 0);
  EXPECT_EQ(qattr.qkey, kQkey);
  EXPECT_EQ(qinit.qp_type, IBV_QPT_UD);
  EXPECT_GE(qinit.cap.max_inline_data, 128u);

  constexpr uint32_t kSize = 1000;
  std::vector<uint8_t> sbuf(4096), rbuf(4096, 0);
  std::mt19937 rng(9);
  for (auto& x : sbuf) x = uint8_t(rng());
  ibv_mr* smr = ibv_reg_mr(pd_, sbuf.data(), sbuf.size(), IBV_ACCESS_LOCAL_WRITE);
  ibv_mr* rmr = ibv_reg_mr(pd_, rbuf.data(), rbuf.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_TRUE(smr && rmr);
  ibv_ah_attr aa = ah_to_self();
  ibv_ah* ah = ibv_create_ah(pd_, &aa);
  ASSERT_NE(ah, nullptr);

  ASSERT_EQ(post_recv(b, rbuf.data(), kGrh + kSize, rmr->lkey, 1), 0);
  ASSERT_EQ(send_ud(a, ah, b->qp_num, sbuf.data(), kSize, smr->lkey, 77), 0);
  auto swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS) << ibv_wc_status_str(swc[0].status);
  EXPECT_EQ(swc[0].opcode, IBV_WC_SEND);
  auto rwc = poll_n(cq_b, 1);
  ASSERT_EQ(rwc.size(), 1u);
  const ibv_wc& wc = rwc[0];
  EXPECT_EQ(wc.status, IBV_WC_SUCCESS) << ibv_wc_status_str(wc.status);
  EXPECT_EQ(wc.opcode, IBV_WC_RECV);
  EXPECT_EQ(wc.byte_len, kGrh + kSize);
  EXPECT_EQ(wc.wc_flags & (IBV_WC_GRH | IBV_WC_WITH_IMM), unsigned(IBV_WC_GRH | IBV_WC_WITH_IMM));
  EXPECT_EQ(ntohl(wc.imm_data), 77u);
  EXPECT_EQ(wc.src_qp, a->qp_num);
  EXPECT_EQ(wc.qp_num, b->qp_num);
  EXPECT_EQ(wc.slid, 0x0003) << "127.0.0.3's LID (pipe/lid.h)";
  EXPECT_EQ(std::memcmp(rbuf.data() + kGrh, sbuf.data(), kSize), 0);

  // The way back, from the completion and the GRH alone.
  ibv_ah_attr back{};
  ibv_wc wc_copy = wc;
  ASSERT_EQ(ibv_init_ah_from_wc(ctx_, 1, &wc_copy, reinterpret_cast<ibv_grh*>(rbuf.data()), &back), 0);
  EXPECT_EQ(back.is_global, 1);
  EXPECT_EQ(back.dlid, 0x0003) << "the SLID, beside the GRH that routes it";
  EXPECT_EQ(std::memcmp(back.grh.dgid.raw, gid_.raw, 16), 0) << "the sender's GID (::ffff:ADDR)";
  ibv_ah* reply_ah = ibv_create_ah_from_wc(pd_, &wc_copy, reinterpret_cast<ibv_grh*>(rbuf.data()), 1);
  ASSERT_NE(reply_ah, nullptr) << strerror(errno);

  // Reply inline through it.
  std::vector<uint8_t> abuf(256, 0);
  ibv_mr* amr = ibv_reg_mr(pd_, abuf.data(), abuf.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_NE(amr, nullptr);
  ASSERT_EQ(post_recv(a, abuf.data(), kGrh + 100, amr->lkey, 2), 0);
  ASSERT_EQ(send_ud(b, reply_ah, wc.src_qp, sbuf.data() + 7, 100, smr->lkey, 5,
                    IBV_SEND_SIGNALED | IBV_SEND_INLINE),
            EINVAL)
      << "b was created without inline room";
  ASSERT_EQ(send_ud(b, reply_ah, wc.src_qp, sbuf.data() + 7, 100, smr->lkey, 5), 0);
  ASSERT_EQ(poll_n(cq_b, 1).size(), 1u);
  auto back_wc = poll_n(cq_a, 1);
  ASSERT_EQ(back_wc.size(), 1u);
  EXPECT_EQ(back_wc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(back_wc[0].src_qp, b->qp_num);
  EXPECT_EQ(std::memcmp(abuf.data() + kGrh, sbuf.data() + 7, 100), 0);

  // Larger than the port MTU: a local length error.
  ibv_port_attr port{};
  ASSERT_EQ(ibv_query_port(ctx_, 1, &port), 0);
  const uint32_t mtu = 128u << port.active_mtu;
  std::vector<uint8_t> big(mtu + 1);
  ibv_mr* bmr = ibv_reg_mr(pd_, big.data(), big.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_NE(bmr, nullptr);
  ASSERT_EQ(send_ud(a, ah, b->qp_num, big.data(), mtu + 1, bmr->lkey, 9), 0);
  auto err = poll_n(cq_a, 1);
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].status, IBV_WC_LOC_LEN_ERR);

  EXPECT_EQ(ibv_destroy_qp(a), 0);
  EXPECT_EQ(ibv_destroy_qp(b), 0);
  EXPECT_EQ(ibv_destroy_ah(ah), 0);
  EXPECT_EQ(ibv_destroy_ah(reply_ah), 0);
  for (ibv_mr* m : {smr, rmr, amr, bmr}) EXPECT_EQ(ibv_dereg_mr(m), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_a), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_b), 0);
}

TEST_F(UdSrqWithEngine, InitAhFromWcTellsIpv4FromIpv6Grhs) {
  ibv_wc wc{};
  wc.wc_flags = IBV_WC_GRH;
  ibv_ah_attr ah{};
  // RoCEv2/IPv4: 20 zero bytes, then the IPv4 header (from 10.1.2.3, TOS 0x28).
  uint8_t v4[40] = {};
  const uint8_t ip[20] = {0x45, 0x28, 0, 60, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 1, 2, 3, 127, 0, 0, 3};
  std::memcpy(v4 + 20, ip, 20);
  ASSERT_EQ(ibv_init_ah_from_wc(ctx_, 1, &wc, reinterpret_cast<ibv_grh*>(v4), &ah), 0);
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(std::memcmp(ah.grh.dgid.raw, mapped, 16), 0);
  EXPECT_EQ(ah.grh.traffic_class, 0x28);
  EXPECT_EQ(ah.is_global, 1);
  EXPECT_EQ(ah.port_num, 1);

  // An IPv6 GRH: the source GID is the way back.
  ibv_grh v6{};
  v6.version_tclass_flow = htonl(6u << 28 | 0x12u << 20 | 0x345);
  v6.sgid = gid_;
  ASSERT_EQ(ibv_init_ah_from_wc(ctx_, 1, &wc, &v6, &ah), 0);
  EXPECT_EQ(std::memcmp(ah.grh.dgid.raw, gid_.raw, 16), 0);
  EXPECT_EQ(ah.grh.traffic_class, 0x12);
  EXPECT_EQ(ah.grh.flow_label, 0x345u);

  // Neither: refused, as rdma-core refuses it.
  uint8_t junk[40] = {};
  errno = 0;
  EXPECT_NE(ibv_init_ah_from_wc(ctx_, 1, &wc, reinterpret_cast<ibv_grh*>(junk), &ah), 0);
  EXPECT_EQ(errno, EPROTONOSUPPORT);
  // No GRH in the completion and no SLID: no way back.
  wc.wc_flags = 0;
  errno = 0;
  EXPECT_EQ(ibv_create_ah_from_wc(pd_, &wc, reinterpret_cast<ibv_grh*>(v4), 1), nullptr);
  EXPECT_EQ(errno, EINVAL);
  // No GRH but a SLID: the way back is the LID, as on IB (pipe/lid.h).
  wc.slid = 0x0003;
  ASSERT_EQ(ibv_init_ah_from_wc(ctx_, 1, &wc, nullptr, &ah), 0);
  EXPECT_EQ(ah.is_global, 0);
  EXPECT_EQ(ah.dlid, 0x0003);
  ibv_ah* by_lid = ibv_create_ah_from_wc(pd_, &wc, nullptr, 1);
  ASSERT_NE(by_lid, nullptr) << strerror(errno);
  EXPECT_EQ(ibv_destroy_ah(by_lid), 0);
}

// qperf's UD tests without the RDMA CM: the address handle carries no GRH,
// only the peer's LID from ibv_query_port; the receive buffer has room for
// the GRH ahead of the message.
TEST_F(UdSrqWithEngine, AnAddressHandleByLidAloneDeliversBehindAGrh) {
  ibv_port_attr port{};
  ASSERT_EQ(ibv_query_port(ctx_, 1, &port), 0);
  ASSERT_EQ(port.lid, 0x0003);
  ibv_cq* cq_a = ibv_create_cq(ctx_, 64, nullptr, nullptr, 0);
  ibv_cq* cq_b = ibv_create_cq(ctx_, 64, nullptr, nullptr, 0);
  ASSERT_TRUE(cq_a && cq_b);
  ibv_qp* a = make_ud_qp(cq_a);
  ibv_qp* b = make_ud_qp(cq_b);
  ASSERT_TRUE(a && b) << strerror(errno);
  ud_to_rts(a);
  ud_to_rts(b);
  ibv_ah_attr aa{};
  aa.is_global = 0;
  aa.dlid = port.lid;
  aa.port_num = 1;
  ibv_ah* ah = ibv_create_ah(pd_, &aa);
  ASSERT_NE(ah, nullptr) << strerror(errno);

  constexpr uint32_t kSize = 1024;
  std::vector<uint8_t> sbuf(kSize), rbuf(kGrh + kSize, 0xee);
  std::mt19937 rng(4);
  for (auto& x : sbuf) x = uint8_t(rng());
  ibv_mr* smr = ibv_reg_mr(pd_, sbuf.data(), sbuf.size(), IBV_ACCESS_LOCAL_WRITE);
  ibv_mr* rmr = ibv_reg_mr(pd_, rbuf.data(), rbuf.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_TRUE(smr && rmr);
  ASSERT_EQ(post_recv(b, rbuf.data(), kGrh + kSize, rmr->lkey, 1), 0);
  ASSERT_EQ(send_ud(a, ah, b->qp_num, sbuf.data(), kSize, smr->lkey, 3), 0);
  auto swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS) << ibv_wc_status_str(swc[0].status);
  auto rwc = poll_n(cq_b, 1);
  ASSERT_EQ(rwc.size(), 1u);
  EXPECT_EQ(rwc[0].status, IBV_WC_SUCCESS) << ibv_wc_status_str(rwc[0].status);
  EXPECT_EQ(rwc[0].byte_len, kGrh + kSize);
  EXPECT_TRUE(rwc[0].wc_flags & IBV_WC_GRH);
  EXPECT_EQ(rwc[0].slid, 0x0003);
  EXPECT_EQ(rwc[0].src_qp, a->qp_num);
  const uint8_t from[4] = {127, 0, 0, 3};
  EXPECT_EQ(rbuf[20] >> 4, 4) << "an IPv4 header in the GRH area's last 20 bytes";
  EXPECT_EQ(std::memcmp(rbuf.data() + 32, from, 4), 0) << "its source address";
  EXPECT_EQ(std::memcmp(rbuf.data() + kGrh, sbuf.data(), kSize), 0);

  EXPECT_EQ(ibv_destroy_qp(a), 0);
  EXPECT_EQ(ibv_destroy_qp(b), 0);
  EXPECT_EQ(ibv_destroy_ah(ah), 0);
  for (ibv_mr* m : {smr, rmr}) EXPECT_EQ(ibv_dereg_mr(m), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_a), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_b), 0);
}

TEST_F(UdSrqWithEngine, SrqVerbsAndTheirErrnos) {
  ibv_srq_init_attr init{};
  init.attr.max_wr = 100;
  init.attr.max_sge = 1;
  ibv_srq* srq = ibv_create_srq(pd_, &init);
  ASSERT_NE(srq, nullptr) << strerror(errno);
  EXPECT_GE(init.attr.max_wr, 100u);
  ibv_srq_attr attr{};
  ASSERT_EQ(ibv_query_srq(srq, &attr), 0);
  EXPECT_EQ(attr.max_wr, init.attr.max_wr);
  EXPECT_GE(attr.max_sge, 1u);
  EXPECT_EQ(attr.srq_limit, 0u);
  attr.max_wr = 200;
  EXPECT_EQ(ibv_modify_srq(srq, &attr, IBV_SRQ_MAX_WR), EINVAL) << "no resizing";
  attr.srq_limit = init.attr.max_wr + 1;
  EXPECT_EQ(ibv_modify_srq(srq, &attr, IBV_SRQ_LIMIT), EINVAL);
  attr.srq_limit = 10;
  EXPECT_EQ(ibv_modify_srq(srq, &attr, IBV_SRQ_LIMIT), 0);
  ibv_srq_attr now{};
  ASSERT_EQ(ibv_query_srq(srq, &now), 0);
  EXPECT_EQ(now.srq_limit, 10u);

  ibv_cq* cq = ibv_create_cq(ctx_, 16, nullptr, nullptr, 0);
  ASSERT_NE(cq, nullptr);
  ibv_qp* qp = make_rc_qp(cq, srq);
  ASSERT_NE(qp, nullptr) << strerror(errno);
  EXPECT_EQ(qp->srq, srq);
  std::vector<uint8_t> buf(64);
  ibv_mr* mr = ibv_reg_mr(pd_, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_NE(mr, nullptr);
  ibv_qp_attr qa{};
  qa.qp_state = IBV_QPS_INIT;
  qa.port_num = 1;
  ASSERT_EQ(ibv_modify_qp(qp, &qa, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
  EXPECT_EQ(post_recv(qp, buf.data(), 64, mr->lkey, 1), EINVAL) << "a QP on an SRQ has no RQ";
  EXPECT_EQ(post_srq(srq, buf.data(), 64, mr->lkey, 1), 0);
  EXPECT_EQ(ibv_destroy_srq(srq), EBUSY) << "a QP still uses it";
  EXPECT_EQ(ibv_dealloc_pd(pd_), EBUSY);
  EXPECT_EQ(ibv_destroy_qp(qp), 0);
  EXPECT_EQ(ibv_destroy_srq(srq), 0);
  EXPECT_EQ(ibv_dereg_mr(mr), 0);
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
}

TEST_F(UdSrqWithEngine, SrqLimitAndLastWqeReachedArriveAsAsyncEvents) {
  ibv_srq_init_attr init{};
  init.attr.max_wr = 8;
  init.attr.max_sge = 1;
  ibv_srq* srq = ibv_create_srq(pd_, &init);
  ASSERT_NE(srq, nullptr);
  ibv_cq* cq = ibv_create_cq(ctx_, 64, nullptr, nullptr, 0);
  ibv_qp* sender = make_rc_qp(cq, nullptr);
  ibv_qp* receiver = make_rc_qp(cq, srq);
  ASSERT_TRUE(cq && sender && receiver);
  rc_connect(sender, receiver->qp_num);
  rc_connect(receiver, sender->qp_num);

  std::vector<uint8_t> buf(8 * 256);
  ibv_mr* mr = ibv_reg_mr(pd_, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_NE(mr, nullptr);
  for (uint32_t k = 0; k < 8; ++k) ASSERT_EQ(post_srq(srq, buf.data() + k * 256, 256, mr->lkey, k), 0);
  ibv_srq_attr attr{};
  attr.srq_limit = 6;
  ASSERT_EQ(ibv_modify_srq(srq, &attr, IBV_SRQ_LIMIT), 0);

  for (uint64_t k = 0; k < 3; ++k) {  // 8 → 5 posted: below 6 at the third
    ibv_sge s{reinterpret_cast<uintptr_t>(buf.data()), 16, mr->lkey};
    ibv_send_wr w{};
    w.wr_id = 100 + k;
    w.sg_list = &s;
    w.num_sge = 1;
    w.opcode = IBV_WR_SEND;
    w.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad;
    ASSERT_EQ(ibv_post_send(sender, &w, &bad), 0);
  }
  auto wcs = poll_n(cq, 6);
  ASSERT_EQ(wcs.size(), 6u);
  for (const ibv_wc& wc : wcs) EXPECT_EQ(wc.status, IBV_WC_SUCCESS) << ibv_wc_status_str(wc.status);

  ibv_async_event ev{};
  ASSERT_TRUE(next_async_event(ev));
  EXPECT_EQ(ev.event_type, IBV_EVENT_SRQ_LIMIT_REACHED);
  EXPECT_EQ(ev.element.srq, srq);
  ibv_ack_async_event(&ev);
  ASSERT_EQ(ibv_query_srq(srq, &attr), 0);
  EXPECT_EQ(attr.srq_limit, 0u) << "disarmed by the event";

  ibv_qp_attr qa{};
  qa.qp_state = IBV_QPS_ERR;
  ASSERT_EQ(ibv_modify_qp(receiver, &qa, IBV_QP_STATE), 0);
  ASSERT_TRUE(next_async_event(ev));
  EXPECT_EQ(ev.event_type, IBV_EVENT_QP_LAST_WQE_REACHED);
  EXPECT_EQ(ev.element.qp, receiver);
  ibv_ack_async_event(&ev);

  EXPECT_EQ(ibv_destroy_qp(receiver), 0);
  EXPECT_EQ(ibv_destroy_qp(sender), 0);
  EXPECT_EQ(ibv_destroy_srq(srq), 0);
  EXPECT_EQ(ibv_dereg_mr(mr), 0);
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
}

}  // namespace
}  // namespace flexins::verbs
