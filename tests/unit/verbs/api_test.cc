// Verbs that need no engine: argument checks with the man pages' errnos,
// names of enum values, rates, address handles from a received GRH.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <infiniband/verbs.h>

#include <cerrno>
#include <cstring>
#include <vector>

#undef ibv_reg_mr

namespace {

TEST(VerbsArgs, NullObjectsAreEinval) {
  errno = 0;
  EXPECT_EQ(ibv_alloc_pd(nullptr), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(ibv_dealloc_pd(nullptr), EINVAL);
  errno = 0;
  EXPECT_EQ(ibv_create_cq(nullptr, 16, nullptr, nullptr, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  ibv_qp_init_attr qpa{};
  errno = 0;
  EXPECT_EQ(ibv_create_qp(nullptr, &qpa), nullptr);
  EXPECT_EQ(errno, EINVAL);
  ibv_srq_init_attr srqa{};
  errno = 0;
  EXPECT_EQ(ibv_create_srq(nullptr, &srqa), nullptr);
  EXPECT_EQ(errno, EINVAL);
  ibv_ah_attr aha{};
  errno = 0;
  EXPECT_EQ(ibv_create_ah(nullptr, &aha), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(ibv_create_comp_channel(nullptr), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(ibv_destroy_cq(nullptr), EINVAL);
  EXPECT_EQ(ibv_destroy_qp(nullptr), EINVAL);
  EXPECT_EQ(ibv_dereg_mr(nullptr), EINVAL);
  EXPECT_EQ(ibv_open_device(nullptr), nullptr);
  EXPECT_EQ(ibv_close_device(nullptr), EINVAL);
}

// ibv_reg_mr(3): access flags and length are checked before anything else,
// so a PD that was never opened is never looked at.
TEST(VerbsArgs, RegMrAccessFlags) {
  ibv_pd unused_pd{};
  std::vector<uint8_t> buf(4096);
  struct Case {
    int access;
    size_t length;
    int err;
  } cases[] = {
      {IBV_ACCESS_LOCAL_WRITE, 0, EINVAL},                             // zero length
      {IBV_ACCESS_REMOTE_WRITE, 4096, EINVAL},                         // needs LOCAL_WRITE
      {IBV_ACCESS_REMOTE_ATOMIC, 4096, EINVAL},                        // needs LOCAL_WRITE
      {IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE, 4096, EINVAL},
      {IBV_ACCESS_LOCAL_WRITE | (1 << 15), 4096, EINVAL},              // unknown flag
      {IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND, 4096, EOPNOTSUPP},
  };
  for (const Case& c : cases) {
    errno = 0;
    EXPECT_EQ(ibv_reg_mr(&unused_pd, buf.data(), c.length, c.access), nullptr) << c.access;
    EXPECT_EQ(errno, c.err) << "access " << c.access << " length " << c.length;
  }
  errno = 0;
  EXPECT_EQ(ibv_reg_mr(nullptr, buf.data(), buf.size(), IBV_ACCESS_LOCAL_WRITE), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST(VerbsNames, StatusNodeStateAndEventNames) {
  EXPECT_STREQ(ibv_wc_status_str(IBV_WC_SUCCESS), "success");
  EXPECT_STREQ(ibv_wc_status_str(IBV_WC_RETRY_EXC_ERR), "transport retry counter exceeded");
  EXPECT_STREQ(ibv_wc_status_str(IBV_WC_WR_FLUSH_ERR), "Work Request Flushed Error");
  EXPECT_STREQ(ibv_wc_status_str(static_cast<ibv_wc_status>(30)), "unknown");
  EXPECT_STREQ(ibv_node_type_str(IBV_NODE_CA), "InfiniBand channel adapter");
  EXPECT_STREQ(ibv_node_type_str(IBV_NODE_UNKNOWN), "unknown");
  EXPECT_STREQ(ibv_port_state_str(IBV_PORT_ACTIVE), "active");
  EXPECT_STREQ(ibv_event_type_str(IBV_EVENT_DEVICE_FATAL), "local catastrophic error");
  EXPECT_STREQ(ibv_event_type_str(IBV_EVENT_WQ_FATAL), "WQ fatal");
}

TEST(VerbsRates, ConversionsRoundTrip) {
  EXPECT_EQ(ibv_rate_to_mult(IBV_RATE_10_GBPS), 4);
  EXPECT_EQ(mult_to_ibv_rate(4), IBV_RATE_10_GBPS);
  EXPECT_EQ(ibv_rate_to_mbps(IBV_RATE_100_GBPS), 103125);
  EXPECT_EQ(mbps_to_ibv_rate(103125), IBV_RATE_100_GBPS);
  EXPECT_EQ(mbps_to_ibv_rate(12345), IBV_RATE_MAX);
  EXPECT_EQ(ibv_rate_to_mult(IBV_RATE_MAX), -1);
}

TEST(VerbsAh, FromAnIpv4GrhTheSourceBecomesTheDestination) {
  uint8_t grh_bytes[40] = {};
  uint8_t* ip = grh_bytes + 20;  // RoCE v2 over IPv4: header in the last 20 bytes
  ip[0] = 0x45;
  ip[1] = 0x28;  // traffic class
  in_addr src;
  inet_pton(AF_INET, "10.0.0.7", &src);
  std::memcpy(ip + 12, &src, 4);
  ibv_wc wc{};
  wc.wc_flags = IBV_WC_GRH;
  ibv_ah_attr ah;
  ibv_context* ctx = reinterpret_cast<ibv_context*>(grh_bytes);  // not looked at
  ASSERT_EQ(ibv_init_ah_from_wc(ctx, 1, &wc, reinterpret_cast<ibv_grh*>(grh_bytes), &ah), 0);
  EXPECT_EQ(ah.is_global, 1);
  EXPECT_EQ(ah.port_num, 1);
  EXPECT_EQ(ah.grh.traffic_class, 0x28);
  const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7};
  EXPECT_EQ(std::memcmp(ah.grh.dgid.raw, want, 16), 0);
  EXPECT_EQ(ah.dlid, 0) << "the completion's SLID";
  wc.wc_flags = 0;  // no GRH and no SLID: no way back
  errno = 0;
  EXPECT_EQ(ibv_init_ah_from_wc(ctx, 1, &wc, nullptr, &ah), -1);
  EXPECT_EQ(errno, EINVAL);
  wc.slid = 0x0a07;  // no GRH, a SLID: back by LID (pipe/lid.h), as on IB
  ASSERT_EQ(ibv_init_ah_from_wc(ctx, 1, &wc, nullptr, &ah), 0);
  EXPECT_EQ(ah.is_global, 0);
  EXPECT_EQ(ah.dlid, 0x0a07);
  EXPECT_EQ(ah.port_num, 1);
}

TEST(VerbsUnsupported, FailCleanly) {
  errno = 0;
  EXPECT_EQ(ibv_import_device(3), nullptr);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(ibv_attach_mcast(nullptr, nullptr, 0), EOPNOTSUPP);
  errno = 0;
  EXPECT_EQ(ibv_reg_dmabuf_mr(nullptr, 0, 4096, 0, -1, 0), nullptr);
  EXPECT_EQ(errno, EOPNOTSUPP);
}

}  // namespace
