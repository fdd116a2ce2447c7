// FLEXINS_CM_TRACE=1: one line on stderr per CM step (state machine moves,
// accepted and refused connections, timers), for finding where a connection
// that never completes stopped. Off, it costs a branch.
#pragma once

namespace flexins::rdmacm {

bool cm_trace_on();
void cm_trace(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#define FLEXINS_CM_TRACE(...)                                \
  do {                                                       \
    if (::flexins::rdmacm::cm_trace_on()) ::flexins::rdmacm::cm_trace(__VA_ARGS__); \
  } while (0)

}  // namespace flexins::rdmacm
