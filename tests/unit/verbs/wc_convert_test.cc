#include "verbs/wc_convert.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

namespace flexins::verbs {
namespace {

TEST(WcConvert, EveryFieldArrives) {
  pipe::Cqe c{};
  c.wr_id = 0x1122334455667788ull;
  c.status = IBV_WC_REM_ACCESS_ERR;
  c.opcode = IBV_WC_RECV_RDMA_WITH_IMM;
  c.vendor_err = 0x42;
  c.byte_len = 4096;
  c.imm_data = htonl(0xdeadbeef);
  c.qp_num = 0x123456;
  c.src_qp = 0x654321;
  c.wc_flags = IBV_WC_WITH_IMM | IBV_WC_GRH;
  c.pkey_index = 0;
  c.slid = 7;
  c.sl = 3;
  c.dlid_path_bits = 1;
  ibv_wc wc;
  std::memset(&wc, 0xcc, sizeof wc);
  cqe_to_wc(c, wc);
  EXPECT_EQ(wc.wr_id, c.wr_id);
  EXPECT_EQ(wc.status, IBV_WC_REM_ACCESS_ERR);
  EXPECT_EQ(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
  EXPECT_EQ(wc.vendor_err, 0x42u);
  EXPECT_EQ(wc.byte_len, 4096u);
  EXPECT_EQ(ntohl(wc.imm_data), 0xdeadbeefu) << "immediate data stays in network order";
  EXPECT_EQ(wc.qp_num, 0x123456u);
  EXPECT_EQ(wc.src_qp, 0x654321u);
  EXPECT_EQ(wc.wc_flags, unsigned(IBV_WC_WITH_IMM | IBV_WC_GRH));
  EXPECT_EQ(wc.pkey_index, 0);
  EXPECT_EQ(wc.slid, 7);
  EXPECT_EQ(wc.sl, 3);
  EXPECT_EQ(wc.dlid_path_bits, 1);
}

TEST(WcConvert, InvalidatedRkeySharesTheImmediateField) {
  pipe::Cqe c{};
  c.opcode = IBV_WC_RECV;
  c.wc_flags = IBV_WC_WITH_INV;
  c.imm_data = 0xabcd1234;
  ibv_wc wc{};
  cqe_to_wc(c, wc);
  EXPECT_EQ(wc.invalidated_rkey, 0xabcd1234u);
}

}  // namespace
}  // namespace flexins::verbs
