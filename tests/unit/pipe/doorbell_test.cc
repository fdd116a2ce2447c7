// The doorbell FIFO: many host threads ring, one worker drains; no doorbell
// is lost or duplicated, and a QP is queued at most once until it is seen.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "pipe/doorbell.h"

namespace flexins::pipe {
namespace {

std::unique_ptr<DoorbellFifo> make_fifo() {
  auto f = std::make_unique<DoorbellFifo>();
  doorbell_fifo_init(*f);
  return f;
}

TEST(DoorbellFifo, PopsInPushOrderAndReportsEmpty) {
  auto f = make_fifo();
  uint32_t q = 0;
  EXPECT_FALSE(doorbell_pop(*f, q));
  for (uint32_t i = 10; i < 20; ++i) ASSERT_TRUE(doorbell_push(*f, i));
  for (uint32_t i = 10; i < 20; ++i) {
    ASSERT_TRUE(doorbell_pop(*f, q));
    EXPECT_EQ(q, i);
  }
  EXPECT_FALSE(doorbell_pop(*f, q));
}

TEST(DoorbellFifo, RefusesWhenFullAndRecovers) {
  auto f = make_fifo();
  for (uint32_t i = 0; i < kDoorbellCapacity; ++i) ASSERT_TRUE(doorbell_push(*f, i));
  EXPECT_FALSE(doorbell_push(*f, 99));
  uint32_t q;
  ASSERT_TRUE(doorbell_pop(*f, q));
  EXPECT_EQ(q, 0u);
  EXPECT_TRUE(doorbell_push(*f, 99));
}

TEST(DoorbellFifo, ConcurrentProducersLoseNothing) {
  auto f = make_fifo();
  constexpr uint32_t kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> producers;
  for (uint32_t t = 0; t < kThreads; ++t)
    producers.emplace_back([&, t] {
      for (uint32_t i = 0; i < kPerThread; ++i)
        while (!doorbell_push(*f, t * kPerThread + i)) std::this_thread::yield();
    });
  std::vector<uint32_t> seen;
  std::vector<uint32_t> last(kThreads, 0);
  while (seen.size() < kThreads * kPerThread) {
    uint32_t q;
    if (!doorbell_pop(*f, q)) continue;
    uint32_t t = q / kPerThread, i = q % kPerThread;
    if (i > 0) {
      EXPECT_GT(i, last[t]) << "per-producer order broken";
    }
    last[t] = i;
    seen.push_back(q);
  }
  for (auto& p : producers) p.join();
  std::set<uint32_t> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), size_t(kThreads) * kPerThread);
}

TEST(RingDoorbell, QueuesAQpOnceUntilTheWorkerClearsIt) {
  auto f = make_fifo();
  QpShm qp{};
  WorkerStatus awake{};
  EXPECT_FALSE(ring_doorbell(qp, 7, *f, awake));
  EXPECT_FALSE(ring_doorbell(qp, 7, *f, awake));  // still pending: not queued again
  uint32_t q;
  ASSERT_TRUE(doorbell_pop(*f, q));
  EXPECT_EQ(q, 7u);
  EXPECT_FALSE(doorbell_pop(*f, q));
  qp.doorbell_pending.store(0);  // the worker looked at the QP
  WorkerStatus asleep{};
  asleep.sleeping.store(1);
  EXPECT_TRUE(ring_doorbell(qp, 7, *f, asleep)) << "a sleeping worker must be kicked";
  ASSERT_TRUE(doorbell_pop(*f, q));
}

TEST(RingDoorbell, OnlyThePostThatRangKicksASleepingWorker) {
  auto f = make_fifo();
  QpShm qp{};
  WorkerStatus asleep{};
  asleep.sleeping.store(1);
  EXPECT_TRUE(ring_doorbell(qp, 7, *f, asleep));
  // The worker has not woken yet: the doorbell is pending and its kick on
  // the way, so further posts on the QP make no system call.
  EXPECT_FALSE(ring_doorbell(qp, 7, *f, asleep));
  EXPECT_FALSE(ring_doorbell(qp, 7, *f, asleep));
  uint32_t q;
  ASSERT_TRUE(doorbell_pop(*f, q));
  qp.doorbell_pending.store(0);  // the worker looked at the QP, and naps again
  EXPECT_TRUE(ring_doorbell(qp, 7, *f, asleep)) << "a new doorbell kicks again";
}

TEST(RingDoorbell, TheDoorbellSyscallAblationKicksAnAwakeWorkerOnEveryPost) {
  auto f = make_fifo();
  QpShm qp{};
  WorkerStatus awake{};
  awake.kick_every_post.store(1);
  EXPECT_TRUE(ring_doorbell(qp, 7, *f, awake));
  EXPECT_TRUE(ring_doorbell(qp, 7, *f, awake)) << "even while the QP's doorbell is pending";
  uint32_t q;
  ASSERT_TRUE(doorbell_pop(*f, q));
  EXPECT_FALSE(doorbell_pop(*f, q)) << "queued once all the same";
}

}  // namespace
}  // namespace flexins::pipe
