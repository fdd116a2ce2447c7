// Errors as the verbs define them: remote access errors NAKed by the
// responder, local protection / length / operation errors found by the
// requester, in order, and the error state flushing everything else.
#include <gtest/gtest.h>

#include <cstring>

#include "harness.h"

namespace flexins::transport::test {
namespace {

// A posts `bad`, then a good SEND; expects `status` on the first and a
// flush on the second, and the QP in ERR.
void expect_fails_then_flushes(Fabric& f, ibv_wc_status status) {
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[0].status, status);
  EXPECT_EQ(sc[1].wr_id, 2u);
  EXPECT_EQ(sc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
}

struct RemoteAccessCase {
  const char* name;
  ibv_wr_opcode op;
  // Spoil the request: returns the WQE to post.
  void (*spoil)(pipe::SendWqe& w, const Buffer& remote);
  uint32_t mr_access;  // of B's region
  uint32_t qp_access;  // B's QP access flags
};

class RemoteAccess : public ::testing::TestWithParam<RemoteAccessCase> {};

TEST_P(RemoteAccess, ResponderNaksAndRequesterReportsRemAccessErr) {
  const RemoteAccessCase& c = GetParam();
  QpOptions ob;
  ob.access = c.qp_access;
  Fabric f(QpOptions{}, ob);
  f.connect();
  Buffer remote = f.b().reg(4096, c.mr_access);
  std::memset(remote.data, 0x5a, 4096);
  Buffer local = f.a().reg(4096);
  pipe::SendWqe w = make_wqe(1, c.op);
  w.remote_addr = remote.addr;
  w.rkey = remote.rkey;
  w.compare_add = 1;
  c.spoil(w, remote);
  f.a().post_send(w, {local.sge(0, c.op == IBV_WR_ATOMIC_FETCH_AND_ADD ? 8 : 2048)});
  Buffer any = f.a().reg(8);
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {any.sge(0, 8)});
  f.run();
  expect_fails_then_flushes(f, IBV_WC_REM_ACCESS_ERR);
  EXPECT_EQ(f.b().counters().naks_sent_remote_access.get(), 1u);
  EXPECT_EQ(f.a().counters().naks_received_remote_access.get(), 1u);
  // Refused for its R_Key (counted as such) unless the QP's own access
  // flags already refused the operation.
  const uint32_t need = c.op == IBV_WR_RDMA_READ              ? IBV_ACCESS_REMOTE_READ
                        : c.op == IBV_WR_ATOMIC_FETCH_AND_ADD ? IBV_ACCESS_REMOTE_ATOMIC
                        : c.op == IBV_WR_ATOMIC_CMP_AND_SWP   ? IBV_ACCESS_REMOTE_ATOMIC
                                                              : IBV_ACCESS_REMOTE_WRITE;
  EXPECT_EQ(f.b().counters().rx_drop_bad_key.get(), (c.qp_access & need) == need ? 1u : 0u);
  // Nothing was written into B's memory.
  for (int i = 0; i < 4096; ++i) ASSERT_EQ(remote.data[i], 0x5a);
  // The responder fails too, with the access-error event (IBA 11.6.3).
  EXPECT_EQ(f.b().qp->state(), IBV_QPS_ERR);
  ASSERT_EQ(f.b().env->events.size(), 1u);
  EXPECT_EQ(f.b().env->events[0], IBV_EVENT_QP_ACCESS_ERR);
}

constexpr uint32_t kAllRemote =
    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

INSTANTIATE_TEST_SUITE_P(
    Cases, RemoteAccess,
    ::testing::Values(
        RemoteAccessCase{"write_bad_rkey", IBV_WR_RDMA_WRITE,
                         [](pipe::SendWqe& w, const Buffer&) { w.rkey ^= 0x1000; }, kAllRemote,
                         kAllRemote},
        RemoteAccessCase{"write_out_of_bounds", IBV_WR_RDMA_WRITE,
                         [](pipe::SendWqe& w, const Buffer& r) { w.remote_addr = r.addr + 3000; },
                         kAllRemote, kAllRemote},
        RemoteAccessCase{"write_before_region", IBV_WR_RDMA_WRITE,
                         [](pipe::SendWqe& w, const Buffer& r) { w.remote_addr = r.addr - 1; },
                         kAllRemote, kAllRemote},
        RemoteAccessCase{"write_mr_without_remote_write", IBV_WR_RDMA_WRITE,
                         [](pipe::SendWqe&, const Buffer&) {},
                         IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ, kAllRemote},
        RemoteAccessCase{"write_qp_without_remote_write", IBV_WR_RDMA_WRITE,
                         [](pipe::SendWqe&, const Buffer&) {}, kAllRemote,
                         IBV_ACCESS_REMOTE_READ},
        RemoteAccessCase{"read_bad_rkey", IBV_WR_RDMA_READ,
                         [](pipe::SendWqe& w, const Buffer&) { w.rkey = 0; }, kAllRemote,
                         kAllRemote},
        RemoteAccessCase{"read_out_of_bounds", IBV_WR_RDMA_READ,
                         [](pipe::SendWqe& w, const Buffer& r) { w.remote_addr = r.addr + 2049; },
                         kAllRemote, kAllRemote},
        RemoteAccessCase{"read_mr_without_remote_read", IBV_WR_RDMA_READ,
                         [](pipe::SendWqe&, const Buffer&) {},
                         IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, kAllRemote},
        RemoteAccessCase{"read_qp_without_remote_read", IBV_WR_RDMA_READ,
                         [](pipe::SendWqe&, const Buffer&) {}, kAllRemote,
                         IBV_ACCESS_REMOTE_WRITE},
        RemoteAccessCase{"atomic_mr_without_remote_atomic", IBV_WR_ATOMIC_FETCH_AND_ADD,
                         [](pipe::SendWqe&, const Buffer&) {},
                         IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, kAllRemote}),
    [](const ::testing::TestParamInfo<RemoteAccessCase>& i) { return std::string(i.param.name); });

TEST(RemoteAccessPd, RegionOfAnotherPdIsAnAccessError) {
  Fabric f;
  f.connect();
  Buffer remote = f.b().reg(64, kAllRemote, /*pd=*/99);
  Buffer local = f.a().reg(64);
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = remote.addr;
  w.rkey = remote.rkey;
  f.a().post_send(w, {local.sge(0, 64)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {local.sge(0, 8)});
  f.run();
  expect_fails_then_flushes(f, IBV_WC_REM_ACCESS_ERR);
}

TEST(LocalErrors, BadLkeyIsALocalProtectionErrorAfterTheGoodWqesBeforeIt) {
  Fabric f;
  f.connect();
  Buffer src = f.a().reg(64);
  Buffer dst = f.b().reg(64);
  f.b().post_recv(1, {dst.sge(0, 64)});
  f.a().post_send(make_wqe(0, IBV_WR_SEND), {src.sge(0, 64)});  // good: completes first
  pipe::Sge bad = src.sge(0, 64);
  bad.lkey ^= 0x10;
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {bad});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {src.sge(0, 64)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 3u);
  EXPECT_EQ(sc[0].wr_id, 0u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[1].wr_id, 1u);
  EXPECT_EQ(sc[1].status, IBV_WC_LOC_PROT_ERR);
  EXPECT_EQ(sc[2].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
  EXPECT_EQ(f.b().recv_cqes().size(), 1u);
}

TEST(LocalErrors, ARegionDeregisteredUnderAWriteUnderWayFailsItWithLocProtErr) {
  Fabric f;  // MTU 1024
  f.connect();
  Buffer src = f.a().reg(4096), other = f.a().reg(64), dst = f.b().reg(4096);
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = dst.addr;
  w.rkey = dst.rkey;
  f.a().post_send(w, {src.sge(0, 4096)});
  w.wr_id = 2;
  f.a().post_send(w, {other.sge(0, 64)});
  ASSERT_EQ(f.pump(0, 2), 2u);  // half of it on the wire
  f.a().dereg(src);             // the application's bug
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_PROT_ERR) << "its own error, not a flush";
  EXPECT_EQ(sc[1].wr_id, 2u);
  EXPECT_EQ(sc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
  EXPECT_TRUE(f.a().env->events.empty()) << "reported through a completion: no async event (IBA 11.6.2)";
  EXPECT_EQ(f.a().counters().tx_errors.get(), 1u);
}

TEST(LocalErrors, LocalChecks) {
  struct Case {
    const char* name;
    ibv_wr_opcode op;
    uint32_t mr_access;
    uint32_t mr_pd;
    uint64_t offset;
    uint32_t len;
    ibv_wc_status want;
  } cases[] = {
      {"sge past the region", IBV_WR_SEND, kAllRemote, 0, 32, 64, IBV_WC_LOC_PROT_ERR},
      {"lkey of another PD", IBV_WR_SEND, kAllRemote, 99, 0, 64, IBV_WC_LOC_PROT_ERR},
      {"READ into a region without local write", IBV_WR_RDMA_READ, IBV_ACCESS_REMOTE_READ, 0, 0, 64,
       IBV_WC_LOC_PROT_ERR},
      {"atomic of 4 bytes", IBV_WR_ATOMIC_FETCH_AND_ADD, kAllRemote, 0, 0, 4, IBV_WC_LOC_LEN_ERR},
      {"send with invalidate", IBV_WR_SEND_WITH_INV, kAllRemote, 0, 0, 8, IBV_WC_LOC_QP_OP_ERR},
      {"local invalidate", IBV_WR_LOCAL_INV, kAllRemote, 0, 0, 8, IBV_WC_LOC_QP_OP_ERR},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Fabric f;
    f.connect();
    Buffer local = f.a().reg(64, c.mr_access, c.mr_pd);
    Buffer remote = f.b().reg(64);
    pipe::SendWqe w = make_wqe(1, c.op);
    w.remote_addr = remote.addr;
    w.rkey = remote.rkey;
    f.a().post_send(w, {local.sge(c.offset, c.len)});
    Buffer ok = f.a().reg(8);
    f.a().post_send(make_wqe(2, IBV_WR_SEND), {ok.sge(0, 8)});
    f.run();
    expect_fails_then_flushes(f, c.want);
    EXPECT_EQ(f.transmitted, 0u) << "nothing of a bad WQE reaches the wire";
  }
}

TEST(LocalErrors, InlineTooLongIsALengthError) {
  Fabric f;
  f.connect();
  // The host claims 600 bytes of inline data; the slot and the cap hold 512.
  pipe::SendWqe w = make_wqe(1, IBV_WR_SEND, IBV_SEND_SIGNALED | IBV_SEND_INLINE);
  w.inline_len = 600;
  f.a().post_send(w, {});
  Buffer ok = f.a().reg(8);
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {ok.sge(0, 8)});
  f.run();
  expect_fails_then_flushes(f, IBV_WC_LOC_LEN_ERR);
}

TEST(ReceiveErrors, SendLongerThanTheReceiveIsLocLenErrThereAndRemInvReqHere) {
  Fabric f;
  f.connect();
  Buffer src = f.a().reg(3000);
  Buffer dst = f.b().reg(3000);
  f.b().post_recv(1, {dst.sge(0, 2000)});
  f.b().post_recv(2, {dst.sge(0, 3000)});
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 3000)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {src.sge(0, 8)});
  f.run();
  expect_fails_then_flushes(f, IBV_WC_REM_INV_REQ_ERR);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 2u);
  EXPECT_EQ(rc[0].wr_id, 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_LOC_LEN_ERR);
  EXPECT_EQ(rc[1].wr_id, 2u);
  EXPECT_EQ(rc[1].status, IBV_WC_WR_FLUSH_ERR);
  EXPECT_EQ(f.b().env->events.at(0), IBV_EVENT_QP_REQ_ERR);
}

TEST(ReceiveErrors, ReceiveBufferWithBadLkeyIsLocProtErrThereAndRemOpErrHere) {
  Fabric f;
  f.connect();
  Buffer src = f.a().reg(100);
  Buffer dst = f.b().reg(100);
  pipe::Sge bad = dst.sge(0, 100);
  bad.lkey = 12345;
  f.b().post_recv(1, {bad});
  f.a().post_send(make_wqe(1, IBV_WR_SEND), {src.sge(0, 100)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {src.sge(0, 8)});
  f.run();
  expect_fails_then_flushes(f, IBV_WC_REM_OP_ERR);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].status, IBV_WC_LOC_PROT_ERR);
}

TEST(CqOverflow, AFullSendCqFailsTheQp) {
  QpOptions o;
  o.cq_depth = 4;
  Fabric f(o, QpOptions{});
  f.connect();
  Buffer src = f.a().reg(8);
  Buffer dst = f.b().reg(8 * 8);
  for (int i = 0; i < 8; ++i) f.b().post_recv(i, {dst.sge(8 * i, 8)});
  for (int i = 0; i < 8; ++i) f.a().post_send(make_wqe(i, IBV_WR_SEND), {src.sge(0, 8)});
  f.run();  // nobody polls A's send CQ
  EXPECT_EQ(f.a().qp->state(), IBV_QPS_ERR);
  EXPECT_GE(f.a().counters().cq_overflows.get(), 1u);
  ASSERT_FALSE(f.a().env->events.empty());
  EXPECT_EQ(f.a().env->events[0], IBV_EVENT_QP_FATAL);
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 4u);  // what fitted
  for (int i = 0; i < 4; ++i) EXPECT_EQ(sc[i].wr_id, uint64_t(i));
}

}  // namespace
}  // namespace flexins::transport::test
