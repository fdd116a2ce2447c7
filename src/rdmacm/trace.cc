#include "rdmacm/trace.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace flexins::rdmacm {

bool cm_trace_on() {
  static const bool on = [] {
    const char* v = getenv("FLEXINS_CM_TRACE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}

void cm_trace(const char* fmt, ...) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[512];
  int n = snprintf(line, sizeof line, "flexins-cm %d %ld.%06ld ", int(getpid()), long(ts.tv_sec % 100000),
                   long(ts.tv_nsec / 1000));
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && size_t(n) < sizeof line) n += vsnprintf(line + n, sizeof line - size_t(n), fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  if (size_t(n) >= sizeof line - 1) n = int(sizeof line) - 2;
  line[n++] = '\n';
  (void)!write(STDERR_FILENO, line, size_t(n));  // one write: lines of threads do not mix
}

}  // namespace flexins::rdmacm
