// The verbs library against a real engine: object creation, the errnos
// the man pages promise, data through loopback QPs, and engine death.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <sys/mman.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "../interrupt_after.h"
#include "engine_fixture.h"
#include "verbs/objects.h"

#undef ibv_reg_mr
#undef ibv_query_port

namespace flexins::verbs {
namespace {

using testing::EngineProcess;
using testing::open_engine_device;
using testing::post_recv;

class WithEngine : public ::testing::Test {
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
  }
  void TearDown() override {
    if (pd_) {
      EXPECT_EQ(ibv_dealloc_pd(pd_), 0);
    }
    if (ctx_) {
      EXPECT_EQ(ibv_close_device(ctx_), 0);
    }
  }
  ibv_cq* make_cq(int cqe = 64, ibv_comp_channel* ch = nullptr) {
    return ibv_create_cq(ctx_, cqe, this, ch, 0);
  }
  ibv_qp* make_rc_qp(ibv_cq* cq, uint32_t wr = 16, uint32_t inline_bytes = 64) {
    return make_qp(cq, IBV_QPT_RC, wr, inline_bytes);
  }
  ibv_qp* make_qp(ibv_cq* cq, ibv_qp_type type, uint32_t wr = 16, uint32_t inline_bytes = 64) {
    ibv_qp_init_attr a{};
    a.send_cq = cq;
    a.recv_cq = cq;
    a.qp_type = type;
    a.cap.max_send_wr = wr;
    a.cap.max_recv_wr = wr;
    a.cap.max_send_sge = 2;
    a.cap.max_recv_sge = 2;
    a.cap.max_inline_data = inline_bytes;
    return ibv_create_qp(pd_, &a);
  }
  // RESET → INIT → RTR → RTS, talking to `remote_qpn` on our own address,
  // with the attribute masks ibv_rc_pingpong (or, for a UC QP,
  // ibv_uc_pingpong) passes: through a GRH to our GID, or (by_lid) with no
  // GRH, only our port's LID (FlexiNS's LID routing, as ibv_rc_pingpong
  // without -g and qperf use it).
  void connect(ibv_qp* qp, uint32_t remote_qpn, bool by_lid = false) {
    const bool uc = qp->qp_type == IBV_QPT_UC;
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_INIT;
    a.pkey_index = 0;
    a.port_num = 1;
    a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
    ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                                        IBV_QP_ACCESS_FLAGS),
              0);
    a = {};
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = IBV_MTU_1024;
    a.dest_qp_num = remote_qpn;
    a.rq_psn = 0;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 12;
    if (by_lid) {
      ibv_port_attr port;
      ASSERT_EQ(ibv_query_port(ctx_, 1, reinterpret_cast<_compat_ibv_port_attr*>(&port)), 0);
      a.ah_attr.is_global = 0;
      a.ah_attr.dlid = port.lid;
    } else {
      a.ah_attr.is_global = 1;
      ASSERT_EQ(ibv_query_gid(ctx_, 1, 0, &a.ah_attr.grh.dgid), 0);
      a.ah_attr.grh.hop_limit = 64;
    }
    a.ah_attr.port_num = 1;
    const int rtr = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
    ASSERT_EQ(ibv_modify_qp(qp, &a, uc ? rtr : rtr | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER),
              0);
    a = {};
    a.qp_state = IBV_QPS_RTS;
    a.timeout = 14;
    a.retry_cnt = 7;
    a.rnr_retry = 7;
    a.sq_psn = 0;
    a.max_rd_atomic = 1;
    const int rts = IBV_QP_STATE | IBV_QP_SQ_PSN;
    ASSERT_EQ(ibv_modify_qp(qp, &a, uc ? rts : rts | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                                                 IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC),
              0);
    EXPECT_EQ(qp->state, IBV_QPS_RTS);
  }
  // One signaled SEND of [buf, buf + len).
  int post_send1(ibv_qp* qp, uint64_t wr_id, const void* buf, uint32_t len, uint32_t lkey) {
    ibv_sge sge{reinterpret_cast<uintptr_t>(buf), len, lkey};
    ibv_send_wr wr{};
    wr.wr_id = wr_id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    wr.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad;
    return ibv_post_send(qp, &wr, &bad);
  }
  // Registered memory for the data tests: `src` random bytes, `dst` zeroed
  // and remotely writable.
  struct Regions {
    std::vector<uint8_t> src = std::vector<uint8_t>(8192);
    std::vector<uint8_t> dst = std::vector<uint8_t>(8192, 0);
    ibv_mr* smr = nullptr;
    ibv_mr* dmr = nullptr;
  };
  void make_regions(Regions& r, unsigned seed) {
    std::mt19937 rng(seed);
    for (auto& x : r.src) x = uint8_t(rng());
    r.smr = ibv_reg_mr(pd_, r.src.data(), r.src.size(), IBV_ACCESS_LOCAL_WRITE);
    r.dmr = ibv_reg_mr(pd_, r.dst.data(), r.dst.size(),
                       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
    ASSERT_TRUE(r.smr && r.dmr) << strerror(errno);
  }
  // b posts a receive (wr_id 7: 4096 bytes at dst), a SENDs the first 3000
  // bytes of src (wr_id 9, signaled); checks what b receives. The caller
  // collects a's completion.
  void send_3000(ibv_qp* a, ibv_qp* b, ibv_cq* cq_b, Regions& r) {
    ASSERT_EQ(post_recv(b, r.dst.data(), 4096, r.dmr->lkey, 7), 0);
    ASSERT_EQ(post_send1(a, 9, r.src.data(), 3000, r.smr->lkey), 0);
    auto rwc = poll_n(cq_b, 1);
    ASSERT_EQ(rwc.size(), 1u);
    EXPECT_EQ(rwc[0].status, IBV_WC_SUCCESS) << ibv_wc_status_str(rwc[0].status);
    EXPECT_EQ(rwc[0].wr_id, 7u);
    EXPECT_EQ(rwc[0].opcode, IBV_WC_RECV);
    EXPECT_EQ(rwc[0].byte_len, 3000u);
    EXPECT_EQ(rwc[0].qp_num, b->qp_num);
    EXPECT_EQ(rwc[0].src_qp, a->qp_num);
    EXPECT_EQ(std::memcmp(r.dst.data(), r.src.data(), 3000), 0);
  }
  // Poll until `n` completions arrive (or 5 s pass).
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

  static EngineProcess* engine_;
  ibv_context* ctx_ = nullptr;
  ibv_pd* pd_ = nullptr;
};
EngineProcess* WithEngine::engine_ = nullptr;

TEST_F(WithEngine, QueriesDescribeARoceV2Port) {
  ibv_device_attr dev;
  ASSERT_EQ(ibv_query_device(ctx_, &dev), 0);
  EXPECT_EQ(dev.phys_port_cnt, 1);
  EXPECT_GT(dev.max_qp_wr, 0);
  ibv_port_attr port;
  ASSERT_EQ(___ibv_query_port(ctx_, 1, &port), 0);  // through verbs_context
  EXPECT_EQ(port.state, IBV_PORT_ACTIVE);
  EXPECT_EQ(port.link_layer, IBV_LINK_LAYER_ETHERNET);
  EXPECT_EQ(port.gid_tbl_len, 1);
  // FlexiNS's LID routing (pipe/lid.h): 127.0.0.3 has LID 0x0003, and a
  // path needs no GRH.
  EXPECT_EQ(port.lid, 0x0003);
  EXPECT_EQ(port.lmc, 0);
  EXPECT_EQ(port.flags & IBV_QPF_GRH_REQUIRED, 0u);
  EXPECT_EQ(ibv_query_port(ctx_, 2, reinterpret_cast<_compat_ibv_port_attr*>(&port)), EINVAL);
  // The exported symbol fills the old 48-byte structure and nothing after.
  ibv_port_attr old;
  std::memset(&old, 0xee, sizeof old);
  ASSERT_EQ(ibv_query_port(ctx_, 1, reinterpret_cast<_compat_ibv_port_attr*>(&old)), 0);
  EXPECT_EQ(old.state, IBV_PORT_ACTIVE);
  EXPECT_EQ(old.port_cap_flags2, 0xeeee) << "wrote past the compat structure";
  ibv_gid gid;
  ASSERT_EQ(ibv_query_gid(ctx_, 1, 0, &gid), 0);
  const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 3};
  EXPECT_EQ(std::memcmp(gid.raw, want, 16), 0);
  EXPECT_EQ(ibv_query_gid(ctx_, 1, 1, &gid), -1);
  ibv_gid_entry e;
  ASSERT_EQ(ibv_query_gid_ex(ctx_, 1, 0, &e, 0), 0);
  EXPECT_EQ(e.gid_type, IBV_GID_TYPE_ROCE_V2);
  __be16 pkey;
  ASSERT_EQ(ibv_query_pkey(ctx_, 1, 0, &pkey), 0);
  EXPECT_EQ(pkey, 0xffff);
  ibv_device_attr_ex ex;
  ASSERT_EQ(ibv_query_device_ex(ctx_, nullptr, &ex), 0);
  EXPECT_EQ(ex.orig_attr.vendor_id, dev.vendor_id);
}

TEST_F(WithEngine, RegisteredMemoryKeepsItsContents) {
  std::vector<uint8_t> buf(3 * 4096 + 100);
  std::mt19937 rng(11);
  for (auto& b : buf) b = uint8_t(rng());
  auto before = buf;
  ibv_mr* mr = ibv_reg_mr(pd_, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE |
                                                           IBV_ACCESS_REMOTE_WRITE);
  ASSERT_NE(mr, nullptr) << strerror(errno);
  EXPECT_EQ(mr->addr, buf.data());
  EXPECT_EQ(mr->length, buf.size());
  EXPECT_NE(mr->lkey, mr->rkey);
  EXPECT_EQ(buf, before);
  // A PD with objects cannot go (ibv_dealloc_pd(3): EBUSY).
  EXPECT_EQ(ibv_dealloc_pd(pd_), EBUSY);
  EXPECT_EQ(ibv_dereg_mr(mr), 0);
  EXPECT_EQ(buf, before);
}

TEST_F(WithEngine, RegMrErrnos) {
  std::vector<uint8_t> buf(4096);
  // A PD the engine never handed out.
  Pd bogus{};
  bogus.pd.context = ctx_;
  bogus.pd.handle = bogus.handle = 0xdead;
  errno = 0;
  EXPECT_EQ(ibv_reg_mr(&bogus.pd, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE), nullptr);
  EXPECT_EQ(errno, EINVAL);
  // Memory someone else shares: cannot be moved onto our memfd.
  void* shared = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  errno = 0;
  EXPECT_EQ(ibv_reg_mr(pd_, shared, 4096, IBV_ACCESS_LOCAL_WRITE), nullptr);
  EXPECT_EQ(errno, EOPNOTSUPP);
  munmap(shared, 4096);
  // Nothing mapped there.
  errno = 0;
  EXPECT_EQ(ibv_reg_mr(pd_, reinterpret_cast<void*>(4096), 4096, IBV_ACCESS_LOCAL_WRITE), nullptr);
  EXPECT_EQ(errno, EFAULT);
}

TEST_F(WithEngine, CompletionQueuesAndChannels) {
  errno = 0;
  EXPECT_EQ(ibv_create_cq(ctx_, 0, nullptr, nullptr, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(ibv_create_cq(ctx_, 16, nullptr, nullptr, 1), nullptr) << "one comp vector";
  EXPECT_EQ(errno, EINVAL);

  ibv_comp_channel* ch = ibv_create_comp_channel(ctx_);
  ASSERT_NE(ch, nullptr) << strerror(errno);
  ibv_cq* cq = make_cq(10, ch);
  ASSERT_NE(cq, nullptr) << strerror(errno);
  EXPECT_GE(cq->cqe, 10);
  EXPECT_EQ(cq->cq_context, this);
  EXPECT_EQ(ibv_destroy_comp_channel(ch), EBUSY) << "a CQ still reports to it";
  ibv_wc wc;
  EXPECT_EQ(ibv_poll_cq(cq, 1, &wc), 0);
  EXPECT_EQ(ibv_req_notify_cq(cq, 0), 0);
  // Nothing completes: the channel fd stays quiet.
  pollfd p{ch->fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 20), 0);
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
  EXPECT_EQ(ibv_destroy_comp_channel(ch), 0);

  ibv_cq_init_attr_ex attr{};
  attr.cqe = 8;
  attr.wc_flags = IBV_WC_STANDARD_FLAGS;
  ibv_cq_ex* cqx = ibv_create_cq_ex(ctx_, &attr);
  ASSERT_NE(cqx, nullptr) << strerror(errno);
  ibv_poll_cq_attr pa{};
  EXPECT_EQ(ibv_start_poll(cqx, &pa), ENOENT);
  attr.wc_flags = IBV_WC_EX_WITH_COMPLETION_TIMESTAMP;
  errno = 0;
  EXPECT_EQ(ibv_create_cq_ex(ctx_, &attr), nullptr);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(ibv_destroy_cq(ibv_cq_ex_to_cq(cqx)), 0);
}

// A signal whose handler has no SA_RESTART ends a blocking
// ibv_get_cq_event with EINTR, as libibverbs' read() does; qperf ends its
// timed tests that way (SIGALRM) and would wait for ever otherwise.
TEST_F(WithEngine, ASignalInterruptsAWaitForACompletionEvent) {
  ibv_comp_channel* ch = ibv_create_comp_channel(ctx_);
  ASSERT_NE(ch, nullptr) << strerror(errno);
  ibv_cq* cq = make_cq(4, ch);
  ASSERT_NE(cq, nullptr) << strerror(errno);
  ASSERT_EQ(ibv_req_notify_cq(cq, 0), 0);
  ibv_cq* got = nullptr;
  void* got_ctx = nullptr;
  {
    flexins::testing::InterruptAfter alarm(std::chrono::milliseconds(100));
    errno = 0;
    EXPECT_EQ(ibv_get_cq_event(ch, &got, &got_ctx), -1);
    EXPECT_EQ(errno, EINTR);
  }
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
  EXPECT_EQ(ibv_destroy_comp_channel(ch), 0);
}

TEST_F(WithEngine, QueuePairStatesAndPostingErrnos) {
  ibv_cq* cq = make_cq();
  ASSERT_NE(cq, nullptr);
  ibv_qp* qp = make_rc_qp(cq, 4);
  ASSERT_NE(qp, nullptr) << strerror(errno);
  EXPECT_EQ(qp->state, IBV_QPS_RESET);
  EXPECT_NE(ibv_qp_to_qp_ex(qp), nullptr);
  EXPECT_EQ(ibv_destroy_cq(cq), EBUSY) << "the QP still uses it";

  // RESET → INIT needs P_Key index, port and access flags (IBA 11.2.4.2).
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  EXPECT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE), EINVAL);
  EXPECT_EQ(qp->state, IBV_QPS_RESET);
  a.port_num = 1;
  ASSERT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                                      IBV_QP_ACCESS_FLAGS),
            0);
  EXPECT_EQ(qp->state, IBV_QPS_INIT);
  ibv_qp_attr q{};
  ibv_qp_init_attr qi{};
  ASSERT_EQ(ibv_query_qp(qp, &q, IBV_QP_STATE | IBV_QP_CAP, &qi), 0);
  EXPECT_EQ(q.qp_state, IBV_QPS_INIT);
  EXPECT_EQ(qi.send_cq, cq);
  EXPECT_GE(qi.cap.max_send_wr, 4u);

  std::vector<uint8_t> buf(256);
  ibv_mr* mr = ibv_reg_mr(pd_, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_NE(mr, nullptr);
  ibv_sge sge{reinterpret_cast<uintptr_t>(buf.data()), 64, mr->lkey};
  // A send before RTS is an immediate error, and *bad_wr names it.
  ibv_send_wr swr{};
  swr.sg_list = &sge;
  swr.num_sge = 1;
  swr.opcode = IBV_WR_SEND;
  ibv_send_wr* bad_s = nullptr;
  EXPECT_EQ(ibv_post_send(qp, &swr, &bad_s), EINVAL);
  EXPECT_EQ(bad_s, &swr);

  // Receives are fine in INIT, until the queue is full (ENOMEM) or a WR
  // has more entries than the QP takes (EINVAL).
  ibv_qp_attr cap_attr{};
  ibv_qp_init_attr cap_init{};
  ASSERT_EQ(ibv_query_qp(qp, &cap_attr, IBV_QP_CAP, &cap_init), 0);
  const uint32_t depth = cap_init.cap.max_recv_wr;
  std::vector<ibv_recv_wr> rwrs(depth + 2);
  for (size_t i = 0; i < rwrs.size(); ++i) {
    rwrs[i].wr_id = i;
    rwrs[i].sg_list = &sge;
    rwrs[i].num_sge = 1;
    rwrs[i].next = i + 1 < rwrs.size() ? &rwrs[i + 1] : nullptr;
  }
  ibv_recv_wr* bad_r = nullptr;
  EXPECT_EQ(ibv_post_recv(qp, &rwrs[0], &bad_r), ENOMEM);
  EXPECT_EQ(bad_r, &rwrs[depth]) << "the first WR that did not fit";
  ibv_sge many[32] = {};
  ibv_recv_wr big{};
  big.sg_list = many;
  big.num_sge = 32;
  EXPECT_EQ(ibv_post_recv(qp, &big, &bad_r), EINVAL);
  EXPECT_EQ(bad_r, &big);

  EXPECT_EQ(ibv_destroy_qp(qp), 0);
  EXPECT_EQ(ibv_dereg_mr(mr), 0);
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
}

TEST_F(WithEngine, QpsConnectedByLidAloneExchangeData) {
  ibv_cq* cq = make_cq();
  ASSERT_NE(cq, nullptr);
  ibv_qp* a = make_rc_qp(cq);
  ibv_qp* b = make_rc_qp(cq);
  ASSERT_TRUE(a && b);
  // A path without a GRH needs a LID that names a host.
  {
    ibv_qp_attr init{};
    init.qp_state = IBV_QPS_INIT;
    init.port_num = 1;
    ASSERT_EQ(ibv_modify_qp(a, &init, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS), 0);
    ibv_qp_attr rtr{};
    rtr.qp_state = IBV_QPS_RTR;
    rtr.path_mtu = IBV_MTU_1024;
    rtr.dest_qp_num = b->qp_num;
    rtr.min_rnr_timer = 12;
    rtr.ah_attr.port_num = 1;
    const int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
    for (uint16_t bad : {uint16_t(0), uint16_t(0xffff)}) {
      rtr.ah_attr.dlid = bad;
      EXPECT_EQ(ibv_modify_qp(a, &rtr, mask), EINVAL) << "DLID " << bad;
    }
    ibv_qp_attr reset{};
    reset.qp_state = IBV_QPS_RESET;
    ASSERT_EQ(ibv_modify_qp(a, &reset, IBV_QP_STATE), 0);
  }
  connect(a, b->qp_num, true);
  connect(b, a->qp_num, true);
  ibv_qp_attr qattr{};
  ibv_qp_init_attr qinit{};
  ASSERT_EQ(ibv_query_qp(a, &qattr, IBV_QP_AV, &qinit), 0);
  EXPECT_EQ(qattr.ah_attr.is_global, 0) << "the path as it was given";
  EXPECT_EQ(qattr.ah_attr.dlid, 0x0003);

  std::vector<uint8_t> src(3000), dst(4096, 0);
  std::mt19937 rng(6);
  for (auto& x : src) x = uint8_t(rng());
  ibv_mr* smr = ibv_reg_mr(pd_, src.data(), src.size(), IBV_ACCESS_LOCAL_WRITE);
  ibv_mr* dmr = ibv_reg_mr(pd_, dst.data(), dst.size(), IBV_ACCESS_LOCAL_WRITE);
  ASSERT_TRUE(smr && dmr);
  ASSERT_EQ(post_recv(b, dst.data(), 4096, dmr->lkey, 1), 0);
  ASSERT_EQ(post_send1(a, 2, src.data(), 3000, smr->lkey), 0);
  auto wc = poll_n(cq, 2);
  ASSERT_EQ(wc.size(), 2u);
  for (const ibv_wc& w : wc) {
    EXPECT_EQ(w.status, IBV_WC_SUCCESS) << ibv_wc_status_str(w.status);
    if (w.opcode != IBV_WC_RECV) continue;
    EXPECT_EQ(w.byte_len, 3000u);
    EXPECT_EQ(w.slid, 0x0003) << "the sender's LID";
  }
  EXPECT_EQ(std::memcmp(dst.data(), src.data(), 3000), 0);
  EXPECT_EQ(ibv_destroy_qp(a), 0);
  EXPECT_EQ(ibv_destroy_qp(b), 0);
  EXPECT_EQ(ibv_dereg_mr(smr), 0);
  EXPECT_EQ(ibv_dereg_mr(dmr), 0);
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
}

TEST_F(WithEngine, DataMovesBetweenTwoConnectedQps) {
  ibv_comp_channel* ch = ibv_create_comp_channel(ctx_);
  ASSERT_NE(ch, nullptr);
  ibv_cq* cq_a = make_cq(64, ch);
  ibv_cq* cq_b = make_cq(64);
  ASSERT_TRUE(cq_a && cq_b);
  ibv_qp* a = make_rc_qp(cq_a);
  ibv_qp* b = make_rc_qp(cq_b);
  ASSERT_TRUE(a && b);
  connect(a, b->qp_num);
  connect(b, a->qp_num);

  Regions r;
  make_regions(r, 5);
  auto& [src, dst, smr, dmr] = r;

  // SEND a → b.
  ASSERT_EQ(ibv_req_notify_cq(cq_a, 0), 0);
  send_3000(a, b, cq_b, r);
  // The send completion comes with a channel event (the CQ was armed).
  ibv_cq* ev_cq = nullptr;
  void* ev_ctx = nullptr;
  ASSERT_EQ(ibv_get_cq_event(ch, &ev_cq, &ev_ctx), 0);
  EXPECT_EQ(ev_cq, cq_a);
  EXPECT_EQ(ev_ctx, this);
  ibv_ack_cq_events(cq_a, 1);
  auto swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(swc[0].opcode, IBV_WC_SEND);
  EXPECT_EQ(swc[0].wr_id, 9u);

  // RDMA WRITE with inline data, then through the ibv_wr_* API.
  const char msg[] = "inline hello";
  ibv_sge isge{reinterpret_cast<uintptr_t>(msg), sizeof msg, 0};
  ibv_send_wr wwr{};
  ibv_send_wr* bad_s = nullptr;
  wwr.wr_id = 10;
  wwr.sg_list = &isge;
  wwr.num_sge = 1;
  wwr.opcode = IBV_WR_RDMA_WRITE;
  wwr.send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
  wwr.wr.rdma.remote_addr = reinterpret_cast<uintptr_t>(dst.data()) + 5000;
  wwr.wr.rdma.rkey = dmr->rkey;
  ASSERT_EQ(ibv_post_send(a, &wwr, &bad_s), 0);
  swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(swc[0].opcode, IBV_WC_RDMA_WRITE);
  EXPECT_STREQ(reinterpret_cast<char*>(dst.data()) + 5000, msg);

  ibv_qp_ex* ax = ibv_qp_to_qp_ex(a);
  ibv_wr_start(ax);
  ax->wr_id = 11;
  ax->wr_flags = IBV_SEND_SIGNALED;
  ibv_wr_rdma_write(ax, dmr->rkey, reinterpret_cast<uintptr_t>(dst.data()) + 6000);
  ibv_wr_set_sge(ax, smr->lkey, reinterpret_cast<uintptr_t>(src.data()) + 100, 1000);
  ASSERT_EQ(ibv_wr_complete(ax), 0);
  swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(swc[0].wr_id, 11u);
  EXPECT_EQ(std::memcmp(dst.data() + 6000, src.data() + 100, 1000), 0);
  // A batch with a bad WR is not posted at all.
  ibv_wr_start(ax);
  ibv_wr_send(ax);
  ibv_wr_set_sge(ax, smr->lkey, reinterpret_cast<uintptr_t>(src.data()), 10);
  ibv_wr_set_inline_data(ax, src.data(), 100000);  // larger than max_inline_data
  EXPECT_EQ(ibv_wr_complete(ax), EINVAL);

  EXPECT_EQ(ibv_destroy_qp(a), 0);
  EXPECT_EQ(ibv_destroy_qp(b), 0);
  EXPECT_EQ(ibv_dereg_mr(smr), 0);
  EXPECT_EQ(ibv_dereg_mr(dmr), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_a), 0) << "every event was acked";
  EXPECT_EQ(ibv_destroy_cq(cq_b), 0);
  EXPECT_EQ(ibv_destroy_comp_channel(ch), 0);
}

// UC through the verbs: SEND and RDMA WRITE with immediate move data; READ
// and atomics are refused when posted (EINVAL, as rdma-core's rxe does) and
// when asked for at creation (EOPNOTSUPP, as mlx5 does); RC-only attributes
// are refused by ibv_modify_qp.
TEST_F(WithEngine, UcQpsMoveDataAndRefuseReadAndAtomics) {
  ibv_cq* cq_a = make_cq();
  ibv_cq* cq_b = make_cq();
  ASSERT_TRUE(cq_a && cq_b);
  ibv_qp* a = make_qp(cq_a, IBV_QPT_UC);
  ibv_qp* b = make_qp(cq_b, IBV_QPT_UC);
  ASSERT_TRUE(a && b) << strerror(errno);
  EXPECT_EQ(a->qp_type, IBV_QPT_UC);

  // RTR with an RC-only attribute is EINVAL; the QP stays in INIT.
  ibv_qp_attr bad{};
  bad.qp_state = IBV_QPS_INIT;
  bad.port_num = 1;
  ASSERT_EQ(ibv_modify_qp(b, &bad, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                                       IBV_QP_ACCESS_FLAGS),
            0);
  bad = {};
  bad.qp_state = IBV_QPS_RTR;
  bad.path_mtu = IBV_MTU_1024;
  bad.dest_qp_num = a->qp_num;
  bad.max_dest_rd_atomic = 1;
  bad.ah_attr.is_global = 1;
  bad.ah_attr.port_num = 1;
  ASSERT_EQ(ibv_query_gid(ctx_, 1, 0, &bad.ah_attr.grh.dgid), 0);
  EXPECT_EQ(ibv_modify_qp(b, &bad, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                                       IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC),
            EINVAL);
  EXPECT_EQ(b->state, IBV_QPS_INIT);
  ibv_qp_attr reset{};
  reset.qp_state = IBV_QPS_RESET;
  ASSERT_EQ(ibv_modify_qp(b, &reset, IBV_QP_STATE), 0);

  connect(a, b->qp_num);
  connect(b, a->qp_num);

  Regions r;
  make_regions(r, 6);
  auto& [src, dst, smr, dmr] = r;

  // SEND a → b, 3 packets at MTU 1024.
  send_3000(a, b, cq_b, r);
  auto swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(swc[0].opcode, IBV_WC_SEND);

  // RDMA WRITE with immediate a → b: the data, and a receive completion.
  ibv_recv_wr rwr{};
  ibv_recv_wr* bad_r = nullptr;
  ASSERT_EQ(ibv_post_recv(b, &rwr, &bad_r), 0);
  ibv_sge ssge{reinterpret_cast<uintptr_t>(src.data()), 4000, smr->lkey};
  ibv_send_wr wwr{};
  wwr.wr_id = 10;
  wwr.sg_list = &ssge;
  wwr.num_sge = 1;
  wwr.send_flags = IBV_SEND_SIGNALED;
  wwr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
  wwr.imm_data = htonl(0x55aa);
  wwr.wr.rdma.remote_addr = reinterpret_cast<uintptr_t>(dst.data()) + 4096;
  wwr.wr.rdma.rkey = dmr->rkey;
  ibv_send_wr* bad_s = nullptr;
  ASSERT_EQ(ibv_post_send(a, &wwr, &bad_s), 0);
  auto rwc = poll_n(cq_b, 1);
  ASSERT_EQ(rwc.size(), 1u);
  EXPECT_EQ(rwc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(rwc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
  EXPECT_EQ(rwc[0].imm_data, htonl(0x55aa));
  EXPECT_EQ(std::memcmp(dst.data() + 4096, src.data(), 4000), 0);
  swc = poll_n(cq_a, 1);
  ASSERT_EQ(swc.size(), 1u);
  EXPECT_EQ(swc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(swc[0].opcode, IBV_WC_RDMA_WRITE);

  // READ and atomics: EINVAL at post time, *bad_wr names the WR, nothing posted.
  for (ibv_wr_opcode op : {IBV_WR_RDMA_READ, IBV_WR_ATOMIC_CMP_AND_SWP, IBV_WR_ATOMIC_FETCH_AND_ADD}) {
    ibv_send_wr rd = wwr;
    rd.opcode = op;
    ssge.length = 8;
    bad_s = nullptr;
    EXPECT_EQ(ibv_post_send(a, &rd, &bad_s), EINVAL) << op;
    EXPECT_EQ(bad_s, &rd);
  }
  ibv_qp_ex* ax = ibv_qp_to_qp_ex(a);
  ibv_wr_start(ax);
  ax->wr_id = 12;
  ibv_wr_rdma_read(ax, dmr->rkey, reinterpret_cast<uintptr_t>(dst.data()));
  ibv_wr_set_sge(ax, smr->lkey, reinterpret_cast<uintptr_t>(src.data()), 8);
  EXPECT_EQ(ibv_wr_complete(ax), EINVAL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ibv_wc none;
  EXPECT_EQ(ibv_poll_cq(cq_a, 1, &none), 0) << "nothing was posted";
  EXPECT_EQ(a->state, IBV_QPS_RTS);

  // Asking for READ on a UC QP at creation is refused.
  ibv_qp_init_attr_ex x{};
  x.qp_type = IBV_QPT_UC;
  x.send_cq = x.recv_cq = cq_a;
  x.pd = pd_;
  x.cap.max_send_wr = x.cap.max_recv_wr = 4;
  x.cap.max_send_sge = x.cap.max_recv_sge = 1;
  x.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
  x.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_READ;
  errno = 0;
  EXPECT_EQ(ibv_create_qp_ex(ctx_, &x), nullptr);
  EXPECT_EQ(errno, EOPNOTSUPP);
  x.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM;
  ibv_qp* c = ibv_create_qp_ex(ctx_, &x);
  ASSERT_NE(c, nullptr) << strerror(errno);
  EXPECT_EQ(ibv_destroy_qp(c), 0);

  EXPECT_EQ(ibv_destroy_qp(a), 0);
  EXPECT_EQ(ibv_destroy_qp(b), 0);
  EXPECT_EQ(ibv_dereg_mr(smr), 0);
  EXPECT_EQ(ibv_dereg_mr(dmr), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_a), 0);
  EXPECT_EQ(ibv_destroy_cq(cq_b), 0);
}

// The engine dies under an application: nothing hangs, the application
// hears DEVICE_FATAL once, and it can still clean up.
TEST(EngineDeath, ReportedAndNeverHangs) {
  EngineProcess engine;
  ASSERT_TRUE(engine.ready());
  ibv_context* ctx = open_engine_device();
  ASSERT_NE(ctx, nullptr);
  ibv_pd* pd = ibv_alloc_pd(ctx);
  ibv_comp_channel* ch = ibv_create_comp_channel(ctx);
  ASSERT_TRUE(pd && ch);
  ibv_cq* cq = ibv_create_cq(ctx, 16, nullptr, ch, 0);
  ASSERT_NE(cq, nullptr);
  ASSERT_EQ(ibv_req_notify_cq(cq, 0), 0);

  engine.kill_now(SIGKILL);

  ibv_async_event ev;
  ASSERT_EQ(ibv_get_async_event(ctx, &ev), 0);
  EXPECT_EQ(ev.event_type, IBV_EVENT_DEVICE_FATAL);
  ibv_ack_async_event(&ev);
  // Reported once; later reads fail instead of blocking.
  EXPECT_EQ(ibv_get_async_event(ctx, &ev), -1);

  ibv_cq* got_cq;
  void* got_ctx;
  EXPECT_EQ(ibv_get_cq_event(ch, &got_cq, &got_ctx), -1);

  // A busy poller learns within about the liveness interval.
  auto t0 = std::chrono::steady_clock::now();
  int r = 0;
  ibv_wc wc;
  while ((r = ibv_poll_cq(cq, 1, &wc)) == 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
  }
  EXPECT_LT(r, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));

  errno = 0;
  EXPECT_EQ(ibv_alloc_pd(ctx), nullptr);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(ibv_destroy_cq(cq), 0);
  EXPECT_EQ(ibv_destroy_comp_channel(ch), 0);
  EXPECT_EQ(ibv_dealloc_pd(pd), 0);
  EXPECT_EQ(ibv_close_device(ctx), 0);
}

}  // namespace
}  // namespace flexins::verbs
