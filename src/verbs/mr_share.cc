#include "verbs/mr_share.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#include "verbs/page_move.h"
#include "verbs/proc_maps.h"

namespace flexins::verbs {
namespace {

constexpr char kMemfdName[] = "flexins-mr";

struct Segment {
  uintptr_t end;
  int fd;
  int prot;
  uint64_t inode;
  uint64_t refs;
};

std::mutex g_mu;
std::map<uintptr_t, Segment>& segments() {
  static auto* m = new std::map<uintptr_t, Segment>;  // outlives static destructors
  return *m;
}
std::atomic<bool> g_dontfork{false};

uintptr_t page_size() {
  static const uintptr_t p = uintptr_t(sysconf(_SC_PAGESIZE));
  return p;
}

// Special mappings a memfd cannot stand in for.
bool is_special(const Vma& v) {
  return v.path == "[vvar]" || v.path == "[vdso]" || v.path == "[vsyscall]" ||
         v.path.rfind("/anon_hugepage", 0) == 0 || v.path.find("hugetlb") != std::string::npos;
}

// Move [s, e) (one private mapping, protection `prot`) onto a new memfd.
int create_segment(uintptr_t s, uintptr_t e, int prot) {
  size_t len = e - s;
  int fd = memfd_create(kMemfdName, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return errno;
  int err = ftruncate(fd, off_t(len)) == 0 ? 0 : errno;
  // The engine maps this file: a size that cannot change means it can never
  // fault on a page the file lost (it insists on F_SEAL_SHRINK).
  if (err == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) err = errno;
  struct stat st;
  if (err == 0 && fstat(fd, &st) != 0) err = errno;
  if (err == 0) err = move_onto_memfd(s, len, prot, fd);
  if (err != 0) {
    close(fd);
    return err;
  }
  if (g_dontfork.load(std::memory_order_relaxed))
    madvise(reinterpret_cast<void*>(s), len, MADV_DONTFORK);
  segments()[s] = Segment{e, fd, prot, uint64_t(st.st_ino), 1};
  return 0;
}

// Give [s, e) private anonymous pages with the same contents, wherever it
// is still mapped from segment `seg` (the application may have unmapped or
// replaced parts of it; those parts are left alone).
void restore_private(uintptr_t s, const Segment& seg, const std::vector<Vma>& maps) {
  for (const Vma& v : maps) {
    if (v.end <= s || v.start >= seg.end) continue;
    if (!v.shared || v.inode != seg.inode || v.path.find(kMemfdName) == std::string::npos)
      continue;
    uintptr_t a = std::max(s, v.start), b = std::min(seg.end, v.end);
    move_off_memfd(a, b - a, v.prot, seg.fd, a - s);  // false: stays shared, still correct
  }
}

// Drop one reference on each segment; unshare those nobody holds. g_mu held.
void unref_locked(const std::vector<uintptr_t>& starts) {
  std::vector<Vma> maps;
  bool have_maps = false;
  for (uintptr_t s : starts) {
    auto it = segments().find(s);
    if (it == segments().end() || --it->second.refs > 0) continue;
    if (!have_maps) {
      maps = read_self_maps();
      have_maps = true;
    }
    restore_private(s, it->second, maps);
    close(it->second.fd);
    segments().erase(it);
  }
}

}  // namespace

int share_range(const void* addr, size_t length, bool need_write, SharedRange* out) {
  *out = SharedRange{};
  uintptr_t first = reinterpret_cast<uintptr_t>(addr);
  if (length == 0 || first + length < first) return EINVAL;
  const uintptr_t mask = page_size() - 1;
  uintptr_t a = first & ~mask;
  uintptr_t b = (first + length + mask) & ~mask;
  if (b < a || b == 0) return EINVAL;

  std::lock_guard g(g_mu);
  SharedRange r;
  r.page_addr_ = a;
  r.page_len_ = b - a;
  std::vector<Vma> maps;
  bool have_maps = false;
  int err = 0;
  uintptr_t cur = a;
  while (cur < b && err == 0) {
    auto next = segments().upper_bound(cur);
    if (next != segments().begin()) {
      auto in = std::prev(next);
      if (in->second.end > cur) {  // already shared: take a reference
        Segment& seg = in->second;
        if (need_write && !(seg.prot & PROT_WRITE)) {
          err = EFAULT;
          break;
        }
        uintptr_t e = std::min(seg.end, b);
        ++seg.refs;
        r.segments_.push_back(in->first);
        r.pieces_.push_back({seg.fd, cur - in->first, e - cur});
        cur = e;
        continue;
      }
    }
    // A gap up to the next shared segment: new segments, one per mapping.
    uintptr_t gap_end = (next == segments().end()) ? b : std::min(b, next->first);
    if (!have_maps) {
      maps = read_self_maps();
      have_maps = true;
    }
    while (cur < gap_end && err == 0) {
      auto v = std::find_if(maps.begin(), maps.end(),
                            [&](const Vma& m) { return m.start <= cur && cur < m.end; });
      if (v == maps.end() || !(v->prot & PROT_READ) || (need_write && !(v->prot & PROT_WRITE))) {
        err = EFAULT;  // not mapped, or not with the access asked for
      } else if (v->shared || is_special(*v)) {
        err = EOPNOTSUPP;  // someone else's shared memory: cannot move it
      } else {
        uintptr_t e = std::min(gap_end, v->end);
        err = create_segment(cur, e, v->prot);
        if (err == 0) {
          r.segments_.push_back(cur);
          r.pieces_.push_back({segments()[cur].fd, 0, e - cur});
          cur = e;
        }
      }
    }
  }
  if (err != 0) {
    unref_locked(r.segments_);
    return err;
  }
  *out = std::move(r);
  return 0;
}

void release_range(SharedRange* r) {
  {
    std::lock_guard g(g_mu);
    unref_locked(r->segments_);
  }
  *r = SharedRange{};
}

size_t shared_segment_count() {
  std::lock_guard g(g_mu);
  return segments().size();
}

void set_dontfork_shared(bool on) { g_dontfork.store(on, std::memory_order_relaxed); }

}  // namespace flexins::verbs
