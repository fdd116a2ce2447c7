// Run a function on a stack of its own. Moving pages that hold the calling
// thread's live stack (a registered stack buffer) onto a memfd means copying
// them and then remapping: anything the thread writes to its stack between
// the two is lost, and the copy/remap code itself writes to its stack. On
// a separate stack the caller's frames stay untouched during the window.
#pragma once

namespace flexins::verbs {

// Calls fn(arg) on a freshly mapped stack and returns when it does.
// Returns false (fn not called) if no stack could be mapped.
bool run_on_private_stack(void (*fn)(void*), void* arg);

}  // namespace flexins::verbs
