// Work-queue and completion-queue rings as both sides use them.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "pipe/rings.h"

namespace flexins::pipe {
namespace {

TEST(WqRing, ProducerFillsConsumerFetchesAndRetires) {
  WqCtrl ctrl{};
  ctrl.slots = 4;
  ctrl.slot_size = 64;
  std::vector<uint8_t> ring(4 * 64);
  WqProducer host(&ctrl, ring.data());
  WqConsumer engine(&ctrl, ring.data(), 4, 64);
  EXPECT_EQ(engine.pending(), 0u);
  for (uint8_t i = 0; i < 4; ++i) {
    ASSERT_FALSE(host.full());
    host.slot()[0] = i;
    host.advance();
  }
  EXPECT_TRUE(host.full());
  EXPECT_EQ(engine.pending(), 0u) << "nothing is visible before publish";
  host.publish();
  EXPECT_EQ(engine.pending(), 4u);
  for (uint8_t i = 0; i < 4; ++i) EXPECT_EQ(engine.fetch()[0], i);
  EXPECT_EQ(engine.pending(), 0u);
  EXPECT_TRUE(host.full()) << "fetched but not retired slots stay taken";
  engine.retire(2);
  EXPECT_FALSE(host.full());
}

TEST(WqRing, EngineClampsALyingProducerIndex) {
  WqCtrl ctrl{};
  ctrl.slots = 8;
  ctrl.slot_size = 16;
  std::vector<uint8_t> ring(8 * 16);
  WqConsumer engine(&ctrl, ring.data(), 8, 16);
  ctrl.producer.value.store(1'000'000);  // a hostile host
  EXPECT_EQ(engine.pending(), 8u);
}

TEST(CqRing, CompletionsFlowAndOverflowIsRefused) {
  CqShm ctrl{};
  ctrl.slots = 2;
  std::vector<Cqe> ring(2);
  CqProducer engine(&ctrl, ring.data(), 2);
  CqConsumer host(&ctrl, ring.data());
  EXPECT_EQ(host.peek(), nullptr);
  Cqe c{};
  c.wr_id = 1;
  ASSERT_TRUE(engine.push(c));
  c.wr_id = 2;
  ASSERT_TRUE(engine.push(c));
  c.wr_id = 3;
  EXPECT_FALSE(engine.push(c)) << "a full CQ must refuse (overrun)";
  EXPECT_EQ(ctrl.overflowed.load(), 1u);
  ASSERT_NE(host.peek(), nullptr);
  EXPECT_EQ(host.peek()->wr_id, 1u);
  host.pop();
  EXPECT_EQ(host.peek()->wr_id, 2u);
  host.pop();
  EXPECT_EQ(host.peek(), nullptr);
  EXPECT_TRUE(engine.push(c));
}

TEST(CqRing, ArmFiresOncePerRequestAndHonoursSolicitedOnly) {
  CqShm ctrl{};
  ctrl.slots = 4;
  std::vector<Cqe> ring(4);
  CqProducer engine(&ctrl, ring.data(), 4);
  CqConsumer host(&ctrl, ring.data());
  EXPECT_FALSE(engine.take_arm(false)) << "not armed";
  host.arm(false);
  EXPECT_TRUE(engine.take_arm(false));
  EXPECT_FALSE(engine.take_arm(false)) << "one event per arm";
  host.arm(true);
  EXPECT_FALSE(engine.take_arm(false)) << "solicited-only ignores unsolicited";
  EXPECT_TRUE(engine.take_arm(true));
}

}  // namespace
}  // namespace flexins::pipe
