// A memfd the engine shares with one application (the context shm of
// pipe/shm_layout.h), mapped here, with a first-fit allocator of offsets.
// The memfd is sparse: only the pages the rings touch cost memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

namespace flexins::engine {

class ShmArena {
 public:
  // Creates and maps a memfd of `size` bytes; throws std::system_error.
  ShmArena(const char* name, size_t size);
  ~ShmArena();
  ShmArena(const ShmArena&) = delete;
  ShmArena& operator=(const ShmArena&) = delete;

  int fd() const { return fd_; }
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  template <class T>
  T* at(uint64_t offset) const { return reinterpret_cast<T*>(base_ + offset); }

  // Reserve `bytes` (rounded up to 64) at a 64-byte aligned offset, zeroed.
  // Returns 0 when the arena is full (offset 0 is the header, never handed out).
  uint64_t alloc(size_t bytes);
  void free(uint64_t offset);

 private:
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::map<uint64_t, uint64_t> free_;  // offset → length
  std::map<uint64_t, uint64_t> used_;  // offset → length
};

}  // namespace flexins::engine
