#include "engine/mr_mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

namespace flexins::engine {

int MrMapping::map(std::span<const int> fds, std::span<const pipe::MrSegment> segs) {
  if (fds.size() != segs.size() || segs.empty()) return EINVAL;
  size_t total = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    const pipe::MrSegment& s = segs[i];
    if (s.length == 0 || (s.length & 4095) || (s.fd_offset & 4095)) return EINVAL;
    // A file the application could shrink under our mapping would SIGBUS
    // the engine: demand F_SEAL_SHRINK and a size that covers the segment.
    int seals = fcntl(fds[i], F_GET_SEALS);
    struct stat st{};
    if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fds[i], &st) != 0 ||
        uint64_t(st.st_size) < s.fd_offset + s.length)
      return EINVAL;
    total += s.length;
  }
  // Reserve the whole range first, then put each segment in its place.
  void* p = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return errno;
  auto* base = static_cast<uint8_t*>(p);
  size_t at = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    void* q = mmap(base + at, segs[i].length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fds[i],
                   off_t(segs[i].fd_offset));
    if (q == MAP_FAILED) {
      int e = errno;
      munmap(base, total);
      return e;
    }
    at += segs[i].length;
  }
  base_ = base;
  length_ = total;
  return 0;
}

MrMapping::~MrMapping() {
  if (base_) munmap(base_, length_);
}

MrMapping& MrMapping::operator=(MrMapping&& o) noexcept {
  if (this != &o) {
    if (base_) munmap(base_, length_);
    base_ = std::exchange(o.base_, nullptr);
    length_ = std::exchange(o.length_, 0);
  }
  return *this;
}

}  // namespace flexins::engine
