// How a worker thread asks the scheduler for the CPU (`flexins daemon
// --rt-priority N --nice N`). A NIC core acts on a packet or a doorbell the
// moment it arrives. On a host whose cores the applications busy-poll, a
// fair-scheduled worker that wakes from a nap waits for the running
// application's slice to end: measured here (perf sched timehist,
// ib_write_lat between two engines on 2 vCPUs) 40-55 µs per wake-up at
// nice -20. A SCHED_FIFO worker preempts at once.
//
// SCHED_FIFO serves wake-ups, not saturation. A worker that uses more than
// kFifoCpuShareLimit of its CPU over a window of kShareWindowNs (it has work
// without pause, or spins) is fair-scheduled at its nice value for the next
// window, so that the applications, the engine's control thread and the
// operator's shell on that CPU still run; below the limit it takes SCHED_FIFO
// back. (The kernel's own RT limit would leave other tasks 5 % of the CPU,
// in one piece at the end of each second.) The limit is 90 %: an engine
// serving a ping-pong uses 70-80 % of its CPU on wake-ups alone, and at a
// 75 % limit every other window fair-scheduled it behind the busy-polling
// application (ib_write_lat p99 1.2 ms against 0.12 ms at 90 %).
#pragma once

#include <cstdint>
#include <string>

namespace flexins::engine {

struct WorkerPriority {
  int rt_priority = 0;  // 1..99: SCHED_FIFO at this priority (fair for a window after a busy one); 0: fair only
  int nice = 0;         // under fair scheduling
};

// Throws std::invalid_argument unless rt_priority is 0 or within
// SCHED_FIFO's range and nice within -20..19.
void check_worker_priority(const WorkerPriority& priority);

// The calling thread's scheduling over time.
class WorkerScheduler {
 public:
  static constexpr double kFifoCpuShareLimit = 0.9;
  static constexpr uint64_t kShareWindowNs = 10'000'000;

  explicit WorkerScheduler(WorkerPriority priority) : priority_(priority) {}

  // On the worker thread, once. Returns "" or a warning saying what was
  // refused and what the thread runs at instead (SCHED_FIFO needs
  // CAP_SYS_NICE or RLIMIT_RTPRIO; a negative nice, CAP_SYS_NICE). A refused
  // priority slows the worker; it does not stop it.
  std::string start();

  // Each pass of the worker, with the time (CLOCK_MONOTONIC): at the end of
  // each window, compares the thread's CPU time in it with the limit.
  void pass(uint64_t now_ns) {
    if (fifo_allowed_ && now_ns - window_start_ns_ >= kShareWindowNs) end_window(now_ns, thread_cpu_ns());
  }

  // The decision at the end of a window, given the clock and the thread's
  // CPU time (exposed for tests).
  void end_window(uint64_t now_ns, uint64_t cpu_ns);

  bool fifo_now() const { return fifo_now_; }
  uint64_t drops_to_fair() const { return drops_to_fair_; }

  static uint64_t thread_cpu_ns();

 private:
  bool set_fifo(bool on);

  WorkerPriority priority_;
  bool fifo_allowed_ = false;  // start() got SCHED_FIFO
  bool fifo_now_ = false;
  uint64_t window_start_ns_ = 0;
  uint64_t window_start_cpu_ns_ = 0;
  uint64_t drops_to_fair_ = 0;
};

}  // namespace flexins::engine
