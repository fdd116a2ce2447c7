#include "engine/shm_arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace flexins::engine {
namespace {
constexpr uint64_t kAlign = 64;
}

ShmArena::ShmArena(const char* name, size_t size) : size_(size) {
  fd_ = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  if (ftruncate(fd_, off_t(size)) != 0) {
    int e = errno;
    close(fd_);
    throw std::system_error(e, std::generic_category(), "ftruncate");
  }
  // The application gets this fd too: it must not be able to shrink the
  // file under the engine's mapping (SIGBUS) or grow it without bound.
  if (fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    int e = errno;
    close(fd_);
    throw std::system_error(e, std::generic_category(), "F_ADD_SEALS");
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd_);
    throw std::system_error(e, std::generic_category(), "mmap");
  }
  base_ = static_cast<uint8_t*>(p);
  free_.emplace(0, size);
}

ShmArena::~ShmArena() {
  if (base_) munmap(base_, size_);
  if (fd_ >= 0) close(fd_);
}

uint64_t ShmArena::alloc(size_t bytes) {
  uint64_t want = (uint64_t(bytes) + kAlign - 1) & ~(kAlign - 1);
  if (want == 0) want = kAlign;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < want) continue;
    uint64_t off = it->first, len = it->second;
    free_.erase(it);
    if (len > want) free_.emplace(off + want, len - want);
    used_.emplace(off, want);
    std::memset(base_ + off, 0, want);
    return off;
  }
  return 0;
}

void ShmArena::free(uint64_t offset) {
  auto it = used_.find(offset);
  if (it == used_.end()) return;
  uint64_t off = it->first, len = it->second;
  used_.erase(it);
  // Give whole pages of a freed block back to the kernel.
  const uint64_t first_page = (off + 4095) & ~4095ull, end_page = (off + len) & ~4095ull;
  if (end_page > first_page) madvise(base_ + first_page, end_page - first_page, MADV_REMOVE);
  auto next = free_.lower_bound(off);
  if (next != free_.end() && off + len == next->first) {
    len += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += len;
      return;
    }
  }
  free_.emplace(off, len);
}

}  // namespace flexins::engine
