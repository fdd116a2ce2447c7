// Making registered memory reachable by the engine in place (DESIGN.md,
// "Memory registration"). A private page range is moved onto a memfd without
// moving it: its contents are copied into the memfd and the memfd is mapped
// MAP_SHARED | MAP_FIXED over the same addresses with the same protection,
// so the application's pointers keep working and the engine maps the same
// memfd. When no registration uses the pages any more they turn back into
// private anonymous memory with their contents.
//
// Process-wide: segments are page ranges with a reference count, so several
// MRs in one page, or the same buffer registered twice, share one segment.
//
// The pages are copied and then remapped; what other threads write to them
// meanwhile (a registered buffer's page often holds other heap objects) is
// kept by holding those writers in a userfaultfd for the moment (page_move.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace flexins::verbs {

// A piece of a shared range: `length` bytes at `fd_offset` of memfd `fd`.
// The fd stays owned by the registry and valid while the range is held.
struct SharedPiece {
  int fd;
  uint64_t fd_offset;
  uint64_t length;
};

class SharedRange {
 public:
  uintptr_t page_addr() const { return page_addr_; }
  size_t page_len() const { return page_len_; }
  // In address order, back to back from page_addr().
  const std::vector<SharedPiece>& pieces() const { return pieces_; }

 private:
  friend int share_range(const void*, size_t, bool, SharedRange*);
  friend void release_range(SharedRange*);
  uintptr_t page_addr_ = 0;
  size_t page_len_ = 0;
  std::vector<SharedPiece> pieces_;
  std::vector<uintptr_t> segments_;  // start of every segment referenced
};

// Make the pages of [addr, addr + length) shared. `need_write`: the
// registration asks for write access, so every page must be writable.
// Returns 0, or EFAULT (a page is not mapped, or lacks the access),
// EOPNOTSUPP (a page is in a shared mapping, or a special one such as
// [vdso] or hugetlbfs), EINVAL (length 0 or wraps), or a system errno.
int share_range(const void* addr, size_t length, bool need_write, SharedRange* out);

// Drop the range's references; segments nobody uses any more become
// private anonymous memory again. `r` is empty afterwards.
void release_range(SharedRange* r);

// Number of shared segments in the process (for tests and diagnostics).
size_t shared_segment_count();

// ibv_fork_init: from now on shared segments are MADV_DONTFORK, as rdma-core
// does for registered memory, so a child does not share them.
void set_dontfork_shared(bool on);

}  // namespace flexins::verbs
