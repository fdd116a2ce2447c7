#include "verbs/page_move.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "verbs/private_stack.h"

namespace flexins::verbs {
namespace {

std::atomic<uint64_t> g_unguarded{0};

void note_unguarded(const char* why) {
  if (g_unguarded.fetch_add(1, std::memory_order_relaxed) == 0)
    std::fprintf(stderr,
                 "flexins: registering memory without a userfaultfd (%s): a write another thread "
                 "makes to the same pages during ibv_reg_mr/ibv_dereg_mr may be lost\n",
                 why);
}

// A userfaultfd with `features`, or -1 (errno says why). Without privilege
// (vm.unprivileged_userfaultfd=0) only one for user-mode faults is allowed.
int open_userfaultfd(uint64_t features) {
  int fd = int(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0 && errno == EPERM) fd = int(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0) return -1;
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  if (ioctl(fd, UFFDIO_API, &api) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

bool register_range(int uffd, uintptr_t start, size_t len, uint64_t mode) {
  uffdio_register reg{};
  reg.range.start = start;
  reg.range.len = len;
  reg.mode = mode;
  return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0;
}

bool write_protect(int uffd, uintptr_t start, size_t len) {
  uffdio_writeprotect wp{};
  wp.range.start = start;
  wp.range.len = len;
  wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
  return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0;
}

// Whole pages move between memory and the memfd by pread/pwrite, made as raw
// system calls: the kernel copies, and sanitizers do not take page-granular
// copies for overflows of the objects in them.
int copy_file(bool to_file, int fd, void* mem, size_t len, uint64_t file_offset) {
  auto* p = static_cast<uint8_t*>(mem);
  size_t done = 0;
  while (done < len) {
    long n = syscall(to_file ? SYS_pwrite64 : SYS_pread64, fd, p + done, len - done,
                     off_t(file_offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += size_t(n);
  }
  return 0;
}

// Every signal of the calling thread blocked while it lives.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

// The windows run on a private stack (the range may hold the caller's own
// stack) with signals blocked (a handler might touch the range): a thread
// that faulted in a range registered with our userfaultfd would wait for
// itself. They read their arguments into locals first and write results
// back only after the window: the argument block may lie in the range too.
// Inside, only errno (thread-local) is written, and only if a call fails.
struct OntoMove {
  uintptr_t s;
  size_t len;
  int prot;
  int fd;
  int uffd;  // -1: no guard
  int err;
  bool guarded;
};

void onto_window(void* arg) {
  auto* out = static_cast<OntoMove*>(arg);
  const OntoMove m = *out;
  auto* range = reinterpret_cast<void*>(m.s);
  bool guarded = false;
  int err = 0;
  {
    SignalsBlocked blocked;
    // Write faults in the range wait on the userfaultfd from here on.
    // Write-protection marks the pages present, so pages never touched are
    // read in first. Other threads may still read: the contents stay put.
    guarded = m.uffd >= 0 && register_range(m.uffd, m.s, m.len, UFFDIO_REGISTER_MODE_WP) &&
              madvise(range, m.len, MADV_POPULATE_READ) == 0 && write_protect(m.uffd, m.s, m.len);
    err = copy_file(true, m.fd, range, m.len, 0);
    if (err == 0 && mmap(range, m.len, m.prot, MAP_SHARED | MAP_FIXED, m.fd, 0) == MAP_FAILED) err = errno;
    // Unregisters what is still registered (all of it, if the mmap failed)
    // and lets waiting writers retry, onto whatever is mapped now.
    if (m.uffd >= 0) close(m.uffd);
  }
  out->err = err;
  out->guarded = guarded;
}

struct OffMove {
  uintptr_t a;
  size_t len;
  int prot;
  int fd;
  uint64_t fd_offset;
  int uffd;  // -1: no guard
  void* fresh;  // private pages to fill and move over the range
  bool moved;
  bool guarded;
};

void off_window(void* arg) {
  auto* out = static_cast<OffMove*>(arg);
  const OffMove m = *out;
  auto* range = reinterpret_cast<void*>(m.a);
  bool guarded = false;
  bool moved = false;
  {
    SignalsBlocked blocked;
    // Minor faults (page in the memfd, not in our page tables) wait on the
    // userfaultfd from here on; dropping the page table entries makes every
    // access one. Writes before that are in the memfd and so in the copy.
    guarded = m.uffd >= 0 && register_range(m.uffd, m.a, m.len, UFFDIO_REGISTER_MODE_MINOR) &&
              madvise(range, m.len, MADV_DONTNEED) == 0;
    moved = copy_file(false, m.fd, m.fresh, m.len, m.fd_offset) == 0 &&
            (m.prot == (PROT_READ | PROT_WRITE) || mprotect(m.fresh, m.len, m.prot) == 0) &&
            mremap(m.fresh, m.len, m.len, MREMAP_MAYMOVE | MREMAP_FIXED, range) != MAP_FAILED;
    if (m.uffd >= 0) close(m.uffd);
  }
  out->moved = moved;
  out->guarded = guarded;
}

}  // namespace

int move_onto_memfd(uintptr_t s, size_t len, int prot, int fd) {
  // Read-only pages: no write to lose, nothing to guard.
  const bool writable = (prot & PROT_WRITE) != 0;
  OntoMove m{s, len, prot, fd, writable ? open_userfaultfd(UFFD_FEATURE_PAGEFAULT_FLAG_WP) : -1, 0, false};
  const int uffd_errno = errno;
  if (!run_on_private_stack(onto_window, &m)) {
    if (m.uffd >= 0) close(m.uffd);
    return ENOMEM;
  }
  if (m.err == 0 && writable && !m.guarded)
    note_unguarded(m.uffd < 0 ? std::strerror(uffd_errno) : "the range cannot be write-protected");
  return m.err;
}

bool move_off_memfd(uintptr_t a, size_t len, int prot, int fd, uint64_t fd_offset) {
  void* fresh = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fresh == MAP_FAILED) return false;
  OffMove m{a, len, prot, fd, fd_offset, open_userfaultfd(UFFD_FEATURE_MINOR_SHMEM), fresh, false, false};
  const int uffd_errno = errno;
  if (!run_on_private_stack(off_window, &m)) {
    if (m.uffd >= 0) close(m.uffd);
    munmap(fresh, len);
    return false;
  }
  if (!m.moved) {
    munmap(fresh, len);
    return false;
  }
  if (!m.guarded)
    note_unguarded(m.uffd < 0 ? std::strerror(uffd_errno) : "the range cannot be registered");
  return true;
}

uint64_t unguarded_moves() { return g_unguarded.load(std::memory_order_relaxed); }

}  // namespace flexins::verbs
