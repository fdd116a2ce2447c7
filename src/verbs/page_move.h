// Moving a page range between private anonymous memory and a memfd in place
// (mr_share.h), without losing what other threads write meanwhile.
//
// A move copies the pages and then maps the copy over the same addresses.
// Other threads of the process keep running: not only the application's,
// which should not touch a buffer it is registering, but any thread writing
// an object that merely shares a page with it (a heap neighbour; the
// RDMA-CM service thread lost an entry of its connection table that way).
// So the window between copy and remap is closed with a userfaultfd:
//   onto the memfd: the range is write-protected (UFFDIO_WRITEPROTECT),
//     copied into the memfd and the memfd mapped over it;
//   off the memfd: the range is registered for minor faults and its page
//     table entries dropped, the memfd copied into fresh private pages,
//     and those moved over it.
// A thread writing (onto) or touching (off) the range in the window waits
// in the kernel; closing the userfaultfd after the remap lets it retry,
// onto the new pages.
//
// Where no userfaultfd is to be had (a seccomp policy, a kernel before 5.14)
// or the range cannot be registered (a private file mapping), the move
// copies and remaps with the window open; the first such move says so on
// stderr. Without privilege the userfaultfd handles user-mode faults only:
// a system call of another thread reading or writing the range in the
// window fails EFAULT.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flexins::verbs {

// [s, s + len), one private mapping with protection `prot`, onto memfd `fd`
// (offset 0, already len bytes long). 0 or an errno; on failure the range
// is as it was.
int move_onto_memfd(uintptr_t s, size_t len, int prot, int fd);

// [a, a + len), mapped from `fd` at `fd_offset`, back onto private
// anonymous pages with the same contents and protection `prot`. False: it
// stays mapped from the memfd (still correct, only not private).
bool move_off_memfd(uintptr_t a, size_t len, int prot, int fd, uint64_t fd_offset);

// How many moves so far ran with the window open (for tests).
uint64_t unguarded_moves();

}  // namespace flexins::verbs
