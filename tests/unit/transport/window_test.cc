// The QPs of a worker share one outstanding-packet window (constants.h).
#include <gtest/gtest.h>

#include "transport/constants.h"

namespace flexins::transport {
namespace {

TEST(Window, OneQpGetsTheFullWindowManyShareTheWorkers) {
  EXPECT_EQ(qp_window_packets(0), kMaxOutstandingPackets);
  EXPECT_EQ(qp_window_packets(1), kMaxOutstandingPackets);
  EXPECT_EQ(qp_window_packets(16), kWorkerOutstandingPackets / 16);
  EXPECT_EQ(qp_window_packets(256), kWorkerOutstandingPackets / 256);
  EXPECT_EQ(qp_window_packets(1u << 20), kMinOutstandingPackets) << "every QP keeps moving";
  for (uint32_t qps : {2u, 16u, 256u, 1024u})
    EXPECT_LE(uint64_t(qps) * qp_window_packets(qps), uint64_t(kWorkerOutstandingPackets));
}

TEST(Window, AckRequestsComeAtLeastTwicePerWindow) {
  EXPECT_EQ(ack_req_interval(kMaxOutstandingPackets), kAckReqEveryPackets);
  EXPECT_EQ(ack_req_interval(8), 4u);
  EXPECT_EQ(ack_req_interval(1), 1u);
  EXPECT_EQ(ack_req_interval(0), 1u);
}

}  // namespace
}  // namespace flexins::transport
