// `flexins daemon --rt-priority N --nice N`: the worker thread's scheduling,
// what a refused priority falls back to, and SCHED_FIFO given up for a
// window by a thread that used more than its share of the CPU. Each case runs on a thread of its
// own: priorities and capabilities are per thread on Linux.
#include "engine/worker_priority.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <ctime>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace flexins::engine {
namespace {

struct Sched {
  int policy = -1;
  int rt_priority = -1;
  int nice = 99;
};

Sched sched_of_this_thread() {
  Sched now;
  sched_param param{};
  now.policy = sched_getscheduler(0);  // 0: the calling thread
  sched_getparam(0, &param);
  now.rt_priority = param.sched_priority;
  now.nice = getpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid)));
  return now;
}

void on_a_thread(const std::function<void()>& body) { std::thread(body).join(); }

struct Started {
  std::string warning;
  Sched sched;
};

// start() on a new thread (after BEFORE, there): its warning and what the
// thread then runs at.
Started start_on_a_thread(const WorkerPriority& priority, const std::function<void()>& before = [] {}) {
  Started seen;
  on_a_thread([&] {
    before();
    WorkerScheduler scheduler(priority);
    seen.warning = scheduler.start();
    seen.sched = sched_of_this_thread();
  });
  return seen;
}

// Drops CAP_SYS_NICE from the calling thread's effective set (capget/capset
// act on one thread): it may then neither use SCHED_FIFO nor lower its nice.
bool drop_sys_nice() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
  return syscall(SYS_capset, &header, data) == 0;
}

TEST(WorkerPriority, FairSchedulingSetsTheNiceValue) {
  // Raising nice needs no privilege.
  const Started seen = start_on_a_thread({.rt_priority = 0, .nice = 7});
  EXPECT_EQ(seen.warning, "");
  EXPECT_EQ(seen.sched.policy, SCHED_OTHER);
  EXPECT_EQ(seen.sched.nice, 7);
}

TEST(WorkerPriority, RunsSchedFifoWhenPermitted) {
  const Started seen = start_on_a_thread({.rt_priority = 10, .nice = 7});
  if (!seen.warning.empty()) GTEST_SKIP() << "no CAP_SYS_NICE or RLIMIT_RTPRIO here: " << seen.warning;
  EXPECT_EQ(seen.sched.policy, SCHED_FIFO);
  EXPECT_EQ(seen.sched.rt_priority, 10);
}

TEST(WorkerPriority, ARefusedSchedFifoFallsBackToTheNiceValueAndSaysWhy) {
  rlimit rtprio{};
  ASSERT_EQ(getrlimit(RLIMIT_RTPRIO, &rtprio), 0);
  if (rtprio.rlim_cur != 0) GTEST_SKIP() << "RLIMIT_RTPRIO allows SCHED_FIFO without privilege here";
  bool dropped = false;
  const Started seen = start_on_a_thread({.rt_priority = 10, .nice = 7}, [&] { dropped = drop_sys_nice(); });
  ASSERT_TRUE(dropped) << "capset";
  EXPECT_NE(seen.warning.find("SCHED_FIFO priority 10 refused"), std::string::npos) << seen.warning;
  EXPECT_NE(seen.warning.find("it runs fair-scheduled at nice 7"), std::string::npos) << seen.warning;
  EXPECT_EQ(seen.sched.policy, SCHED_OTHER);
  EXPECT_EQ(seen.sched.nice, 7);
}

TEST(WorkerPriority, ARefusedNiceValueIsNamedWithTheOneInForce) {
  bool dropped = false;
  const Started seen = start_on_a_thread({.rt_priority = 0, .nice = -20}, [&] { dropped = drop_sys_nice(); });
  ASSERT_TRUE(dropped) << "capset";
  if (seen.warning.empty()) GTEST_SKIP() << "RLIMIT_NICE lets this thread lower its nice value";
  EXPECT_NE(seen.warning.find("nice -20 refused"), std::string::npos) << seen.warning;
  EXPECT_NE(seen.warning.find("at nice " + std::to_string(seen.sched.nice)), std::string::npos) << seen.warning;
  EXPECT_GT(seen.sched.nice, -20);
}

TEST(WorkerPriority, IsFairScheduledForAWindowAfterUsingMoreThanItsShareOfTheCpu) {
  on_a_thread([] {
    WorkerScheduler scheduler({.rt_priority = 10, .nice = 7});
    if (const std::string warning = scheduler.start(); !warning.empty()) GTEST_SKIP() << warning;
    constexpr uint64_t kWindow = WorkerScheduler::kShareWindowNs;
    // A made-up clock, from the thread's real CPU time at start().
    uint64_t now = 1'000 * kWindow, cpu = WorkerScheduler::thread_cpu_ns();
    scheduler.end_window(now, cpu);  // the first window
    // At the limit: SCHED_FIFO still.
    now += kWindow;
    cpu += uint64_t(WorkerScheduler::kFifoCpuShareLimit * double(kWindow));
    scheduler.end_window(now, cpu);
    EXPECT_TRUE(scheduler.fifo_now());
    EXPECT_EQ(sched_of_this_thread().policy, SCHED_FIFO);
    // Above it (the whole window busy): fair, at the configured nice value.
    now += kWindow;
    cpu += kWindow;
    scheduler.end_window(now, cpu);
    Sched sched = sched_of_this_thread();
    EXPECT_FALSE(scheduler.fifo_now());
    EXPECT_EQ(sched.policy, SCHED_OTHER);
    EXPECT_EQ(sched.nice, 7);
    EXPECT_EQ(scheduler.drops_to_fair(), 1u);
    // A quieter window: SCHED_FIFO again, at the configured priority.
    now += kWindow;
    cpu += kWindow / 10;
    scheduler.end_window(now, cpu);
    sched = sched_of_this_thread();
    EXPECT_EQ(sched.policy, SCHED_FIFO);
    EXPECT_EQ(sched.rt_priority, 10);
    EXPECT_EQ(scheduler.drops_to_fair(), 1u);
  });
}

TEST(WorkerPriority, AThreadThatSpinsIsFairScheduledWithinAWindowOrTwo) {
  on_a_thread([] {
    WorkerScheduler scheduler({.rt_priority = 10, .nice = 0});
    if (const std::string warning = scheduler.start(); !warning.empty()) GTEST_SKIP() << warning;
    timespec ts{};
    auto monotonic = [&] {
      clock_gettime(CLOCK_MONOTONIC, &ts);
      return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
    };
    const uint64_t deadline = monotonic() + 1'000'000'000;  // bounded, whatever the machine
    while (scheduler.fifo_now() && monotonic() < deadline) scheduler.pass(monotonic());
    EXPECT_FALSE(scheduler.fifo_now()) << "still SCHED_FIFO after a second of spinning";
    EXPECT_EQ(sched_of_this_thread().policy, SCHED_OTHER);
  });
}

TEST(WorkerPriority, AFairScheduledWorkerStaysFair) {
  on_a_thread([] {
    WorkerScheduler scheduler({.rt_priority = 0, .nice = 7});
    EXPECT_EQ(scheduler.start(), "");
    scheduler.end_window(WorkerScheduler::kShareWindowNs, 0);
    scheduler.end_window(2 * WorkerScheduler::kShareWindowNs, 1);
    EXPECT_EQ(sched_of_this_thread().policy, SCHED_OTHER);
    EXPECT_EQ(scheduler.drops_to_fair(), 0u);
  });
}

TEST(WorkerPriority, RefusesPrioritiesOutOfRange) {
  EXPECT_NO_THROW(check_worker_priority({.rt_priority = 0, .nice = -20}));
  EXPECT_NO_THROW(check_worker_priority({.rt_priority = 99, .nice = 19}));
  for (const WorkerPriority& bad : {WorkerPriority{.rt_priority = 100, .nice = 0}, WorkerPriority{.rt_priority = -1, .nice = 0},
                                    WorkerPriority{.rt_priority = 0, .nice = 20}, WorkerPriority{.rt_priority = 0, .nice = -21}})
    EXPECT_THROW(check_worker_priority(bad), std::invalid_argument) << bad.rt_priority << " " << bad.nice;
}

}  // namespace
}  // namespace flexins::engine
