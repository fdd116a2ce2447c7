#include "verbs/private_stack.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <cstddef>

namespace flexins::verbs {
namespace {

constexpr size_t kStackBytes = 256 << 10;

// makecontext passes only ints: hand the call over through the thread.
thread_local void (*t_fn)(void*);
thread_local void* t_arg;

void trampoline() { t_fn(t_arg); }

}  // namespace

bool run_on_private_stack(void (*fn)(void*), void* arg) {
  void* stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return false;
  ucontext_t caller, callee;
  getcontext(&callee);
  callee.uc_stack.ss_sp = stack;
  callee.uc_stack.ss_size = kStackBytes;
  callee.uc_link = &caller;  // fn returns → back here
  makecontext(&callee, trampoline, 0);
  t_fn = fn;
  t_arg = arg;
  swapcontext(&caller, &callee);
  munmap(stack, kStackBytes);
  return true;
}

}  // namespace flexins::verbs
