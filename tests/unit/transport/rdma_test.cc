// RDMA WRITE, WRITE with immediate (RC and UC), READ (single and
// multi-packet responses) and atomics between two QPs over the in-memory wire.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>

#include "harness.h"

namespace flexins::transport::test {
namespace {

// RC and UC.
class WriteSizes : public ::testing::TestWithParam<std::tuple<ibv_qp_type, ibv_mtu, uint32_t>> {};

TEST_P(WriteSizes, WriteLandsAtTheRemoteAddressWithoutReceiveCompletion) {
  const auto [type, mtu, size] = GetParam();
  QpOptions o;
  o.type = type;
  o.mtu = mtu;
  Fabric f(o, o);
  f.connect();
  Buffer src = f.a().reg(size);
  fill_pattern(src.data, size, 5);
  Buffer dst = f.b().reg(size + 128);
  std::memset(dst.data, 0xee, dst.size);
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.remote_addr = dst.addr + 64;
  w.rkey = dst.rkey;
  f.a().post_send(w, {src.sge(0, size)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[0].opcode, IBV_WC_RDMA_WRITE);
  EXPECT_EQ(std::memcmp(dst.data + 64, src.data, size), 0);
  EXPECT_EQ(dst.data[63], 0xee);
  EXPECT_EQ(dst.data[64 + size], 0xee);
  EXPECT_TRUE(f.b().recv_cqes().empty());
  EXPECT_EQ(f.iovs_outside_mrs, 0u);
  EXPECT_EQ(expect_requests_of(f, type), message_packets(size, mtu));
}

std::string write_name(const ::testing::TestParamInfo<WriteSizes::ParamType>& p) {
  const auto [type, mtu, size] = p.param;
  return std::string(service_name(type)) + "_mtu" + std::to_string(256u << (mtu - 1)) + "_" +
         std::to_string(size);
}

INSTANTIATE_TEST_SUITE_P(ServicesSizesAndMtus, WriteSizes,
                         ::testing::Combine(::testing::Values(IBV_QPT_RC, IBV_QPT_UC),
                                            ::testing::Values(IBV_MTU_256, IBV_MTU_1024,
                                                              IBV_MTU_4096),
                                            ::testing::Values(1u, 256u, 4097u, 100000u,
                                                              1u << 20)),
                         write_name);

class RdmaSizes : public ::testing::TestWithParam<std::tuple<ibv_mtu, uint32_t>> {};

TEST_P(RdmaSizes, ReadFetchesRemoteMemoryInResponsePackets) {
  const auto [mtu, size] = GetParam();
  QpOptions o;
  o.mtu = mtu;
  Fabric f(o, o);
  f.connect();
  Buffer remote = f.b().reg(size + 32);
  fill_pattern(remote.data, remote.size, 9);
  Buffer local = f.a().reg(size);
  std::memset(local.data, 0, size);
  pipe::SendWqe w = make_wqe(7, IBV_WR_RDMA_READ);
  w.remote_addr = remote.addr + 32;
  w.rkey = remote.rkey;
  f.a().post_send(w, {local.sge(0, size)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[0].opcode, IBV_WC_RDMA_READ);
  EXPECT_EQ(sc[0].byte_len, size);
  ASSERT_EQ(std::memcmp(local.data, remote.data + 32, size), 0);
  // READ responses are header-only too: payload straight from B's region.
  EXPECT_EQ(f.iovs_outside_mrs, 0u);
  const uint32_t mtu_bytes = 256u << (mtu - 1);
  const uint64_t responses = f.sent_by_opcode[wire::kRcReadResponseFirst] +
                             f.sent_by_opcode[wire::kRcReadResponseMiddle] +
                             f.sent_by_opcode[wire::kRcReadResponseLast] +
                             f.sent_by_opcode[wire::kRcReadResponseOnly];
  EXPECT_EQ(responses, (size + mtu_bytes - 1) / mtu_bytes);
  EXPECT_EQ(f.sent_by_opcode[wire::kRcReadRequest], 1u);
}

INSTANTIATE_TEST_SUITE_P(SizesAndMtus, RdmaSizes,
                         ::testing::Combine(::testing::Values(IBV_MTU_256, IBV_MTU_1024,
                                                              IBV_MTU_4096),
                                            ::testing::Values(1u, 256u, 4097u, 100000u,
                                                              1u << 20)));

class WriteWithImmediate : public ::testing::TestWithParam<ibv_qp_type> {};

TEST_P(WriteWithImmediate, ConsumesAReceiveAndReportsTheImmediate) {
  QpOptions o;
  o.type = GetParam();
  Fabric f(o, o);
  f.connect();
  const uint32_t size = 5000;
  Buffer src = f.a().reg(size);
  fill_pattern(src.data, size, 11);
  Buffer dst = f.b().reg(size);
  Buffer unused = f.b().reg(16);
  f.b().post_recv(44, {unused.sge(0, 16)});
  pipe::SendWqe w = make_wqe(3, IBV_WR_RDMA_WRITE_WITH_IMM);
  w.remote_addr = dst.addr;
  w.rkey = dst.rkey;
  w.imm_data = htonl(0x01020304);
  f.a().post_send(w, {src.sge(0, size)});
  f.run();
  EXPECT_EQ(std::memcmp(dst.data, src.data, size), 0);
  auto rc = f.b().recv_cqes();
  ASSERT_EQ(rc.size(), 1u);
  EXPECT_EQ(rc[0].wr_id, 44u);
  EXPECT_EQ(rc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
  EXPECT_EQ(rc[0].wc_flags & IBV_WC_WITH_IMM, unsigned(IBV_WC_WITH_IMM));
  EXPECT_EQ(rc[0].imm_data, htonl(0x01020304));
  EXPECT_EQ(rc[0].byte_len, size);
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].opcode, IBV_WC_RDMA_WRITE);
  EXPECT_EQ(expect_requests_of(f, o.type), message_packets(size, o.mtu));
}

INSTANTIATE_TEST_SUITE_P(Services, WriteWithImmediate, ::testing::Values(IBV_QPT_RC, IBV_QPT_UC),
                         [](const ::testing::TestParamInfo<ibv_qp_type>& p) {
                           return std::string(service_name(p.param));
                         });

TEST(Rdma, ZeroLengthWriteAndReadNeedNoValidKey) {
  Fabric f;
  f.connect();
  pipe::SendWqe w = make_wqe(1, IBV_WR_RDMA_WRITE);
  w.rkey = 0xdeadbeef;  // IBA: a zero-length RDMA does not check the R_Key
  f.a().post_send(w, {});
  pipe::SendWqe r = make_wqe(2, IBV_WR_RDMA_READ);
  r.rkey = 0xdeadbeef;
  f.a().post_send(r, {});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[1].status, IBV_WC_SUCCESS);
}

TEST(Rdma, AtomicsCompareSwapAndFetchAddReturnTheOriginalValue) {
  Fabric f;
  f.connect();
  Buffer remote = f.b().reg(16);
  uint64_t v = 100;
  std::memcpy(remote.data, &v, 8);
  Buffer local = f.a().reg(24);
  pipe::SendWqe faa = make_wqe(1, IBV_WR_ATOMIC_FETCH_AND_ADD);
  faa.remote_addr = remote.addr;
  faa.rkey = remote.rkey;
  faa.compare_add = 5;
  f.a().post_send(faa, {local.sge(0, 8)});
  pipe::SendWqe cas = make_wqe(2, IBV_WR_ATOMIC_CMP_AND_SWP);
  cas.remote_addr = remote.addr;
  cas.rkey = remote.rkey;
  cas.compare_add = 105;  // matches: swap in 7
  cas.swap = 7;
  f.a().post_send(cas, {local.sge(8, 8)});
  pipe::SendWqe cas2 = cas;  // does not match any more: no swap
  cas2.wr_id = 3;
  cas2.swap = 99;
  f.a().post_send(cas2, {local.sge(16, 8)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 3u);
  EXPECT_EQ(sc[0].opcode, IBV_WC_FETCH_ADD);
  EXPECT_EQ(sc[1].opcode, IBV_WC_COMP_SWAP);
  for (auto& c : sc) EXPECT_EQ(c.status, IBV_WC_SUCCESS);
  uint64_t r0, r1, r2, now;
  std::memcpy(&r0, local.data, 8);
  std::memcpy(&r1, local.data + 8, 8);
  std::memcpy(&r2, local.data + 16, 8);
  std::memcpy(&now, remote.data, 8);
  EXPECT_EQ(r0, 100u);
  EXPECT_EQ(r1, 105u);
  EXPECT_EQ(r2, 7u);
  EXPECT_EQ(now, 7u);
}

TEST(Rdma, MisalignedAtomicIsAnInvalidRequest) {
  Fabric f;
  f.connect();
  Buffer remote = f.b().reg(16);
  Buffer local = f.a().reg(8);
  pipe::SendWqe faa = make_wqe(1, IBV_WR_ATOMIC_FETCH_AND_ADD);
  faa.remote_addr = remote.addr + 4;
  faa.rkey = remote.rkey;
  f.a().post_send(faa, {local.sge(0, 8)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_REM_INV_REQ_ERR);
  EXPECT_EQ(f.b().counters().naks_sent_invalid_request.get(), 1u);
}

TEST(Rdma, ManyReadsRespectMaxRdAtomicAndAllComplete) {
  QpOptions o;
  o.max_rd_atomic = 2;
  Fabric f(o, o);
  f.connect();
  Buffer remote = f.b().reg(8 * 3000);
  fill_pattern(remote.data, remote.size, 4);
  Buffer local = f.a().reg(8 * 3000);
  for (int i = 0; i < 8; ++i) {
    pipe::SendWqe r = make_wqe(i, IBV_WR_RDMA_READ);
    r.remote_addr = remote.addr + 3000u * i;
    r.rkey = remote.rkey;
    f.a().post_send(r, {local.sge(3000u * i, 3000)});
  }
  // First transmission: only two READ requests may be outstanding.
  f.pump(0);
  EXPECT_EQ(f.wire().size(), 2u);
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(sc[i].wr_id, uint64_t(i));
  EXPECT_EQ(std::memcmp(local.data, remote.data, remote.size), 0);
}

TEST(Rdma, SendAfterReadCompletesAfterIt) {
  // Completions come in posting order even though the SEND's ACK and the
  // READ's response are different packets.
  Fabric f;
  f.connect();
  Buffer remote = f.b().reg(10000);
  Buffer local = f.a().reg(10000);
  Buffer rbuf = f.b().reg(100);
  f.b().post_recv(1, {rbuf.sge(0, 100)});
  pipe::SendWqe r = make_wqe(1, IBV_WR_RDMA_READ);
  r.remote_addr = remote.addr;
  r.rkey = remote.rkey;
  f.a().post_send(r, {local.sge(0, 10000)});
  f.a().post_send(make_wqe(2, IBV_WR_SEND), {local.sge(0, 100)});
  f.run();
  auto sc = f.a().send_cqes();
  ASSERT_EQ(sc.size(), 2u);
  EXPECT_EQ(sc[0].wr_id, 1u);
  EXPECT_EQ(sc[1].wr_id, 2u);
}

}  // namespace
}  // namespace flexins::transport::test
