#include "engine/worker_priority.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace flexins::engine {
namespace {

id_t this_thread() { return id_t(syscall(SYS_gettid)); }

}  // namespace

void check_worker_priority(const WorkerPriority& priority) {
  const int lo = sched_get_priority_min(SCHED_FIFO), hi = sched_get_priority_max(SCHED_FIFO);
  if (priority.rt_priority != 0 && (priority.rt_priority < lo || priority.rt_priority > hi))
    throw std::invalid_argument("--rt-priority must be 0 (fair scheduling) or " + std::to_string(lo) + ".." +
                                std::to_string(hi) + ", not " + std::to_string(priority.rt_priority));
  if (priority.nice < -20 || priority.nice > 19)
    throw std::invalid_argument("--nice must be -20..19, not " + std::to_string(priority.nice));
}

std::string WorkerScheduler::start() {
  // The nice value first: it is what the thread runs at whenever it is fair-
  // scheduled (setpriority on a thread id sets that thread's alone).
  std::string warning;
  if (setpriority(PRIO_PROCESS, this_thread(), priority_.nice) != 0)
    warning = "nice " + std::to_string(priority_.nice) + " refused (" + std::strerror(errno) + ")";
  if (priority_.rt_priority != 0) {
    const sched_param param{.sched_priority = priority_.rt_priority};
    const int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    fifo_allowed_ = fifo_now_ = err == 0;
    window_start_cpu_ns_ = thread_cpu_ns();
    if (err != 0)
      warning = "SCHED_FIFO priority " + std::to_string(priority_.rt_priority) + " refused (" + std::strerror(err) +
                "; it needs CAP_SYS_NICE or RLIMIT_RTPRIO)" + (warning.empty() ? "" : "; " + warning);
  }
  if (warning.empty()) return "";
  return warning + "; it runs fair-scheduled at nice " + std::to_string(getpriority(PRIO_PROCESS, this_thread()));
}

uint64_t WorkerScheduler::thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

void WorkerScheduler::end_window(uint64_t now_ns, uint64_t cpu_ns) {
  const uint64_t wall = now_ns - window_start_ns_, used = cpu_ns - window_start_cpu_ns_;
  window_start_ns_ = now_ns;
  window_start_cpu_ns_ = cpu_ns;
  if (!fifo_allowed_) return;
  const bool want_fifo = double(used) <= kFifoCpuShareLimit * double(wall);
  if (want_fifo == fifo_now_) return;
  if (set_fifo(want_fifo) && !want_fifo) ++drops_to_fair_;
}

bool WorkerScheduler::set_fifo(bool on) {
  const sched_param param{.sched_priority = on ? priority_.rt_priority : 0};
  if (pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &param) != 0) {
    if (on) fifo_allowed_ = false;  // refused now (capabilities dropped since): stay fair, stop asking
    return false;
  }
  fifo_now_ = on;
  return true;
}

}  // namespace flexins::engine
