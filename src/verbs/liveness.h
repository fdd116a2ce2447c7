// Engine death must never hang an application that only polls. An empty
// poll looks at the control socket, but rarely: a busy poll loop must not
// turn into a system call per iteration.
#pragma once

#include <cstdint>
#include <ctime>

#include "verbs/control_client.h"
#include "verbs/objects.h"

namespace flexins::verbs {

inline constexpr int64_t kLivenessCheckIntervalNs = 100'000'000;  // 100 ms

inline int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// True once the engine is known gone. Costs a system call at most once per
// kLivenessCheckIntervalNs per context.
inline bool engine_gone(Context& ctx) {
  if (ctx.control->known_dead()) return true;
  int64_t now = monotonic_ns();
  int64_t due = ctx.next_liveness_check_ns.load(std::memory_order_relaxed);
  if (now < due) return false;
  if (!ctx.next_liveness_check_ns.compare_exchange_strong(due, now + kLivenessCheckIntervalNs,
                                                          std::memory_order_relaxed))
    return false;  // another thread is checking
  return !ctx.control->alive();
}

}  // namespace flexins::verbs
