// The engine's view of a registered memory region: the application's memfd
// segments mapped back to back, so the region is contiguous here too and the
// engine reaches it directly, as a NIC reaches host memory by DMA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "pipe/control_proto.h"

namespace flexins::engine {

class MrMapping {
 public:
  MrMapping() = default;
  // Maps every segment (fds[i] with segs[i]). Returns 0 or an errno.
  int map(std::span<const int> fds, std::span<const pipe::MrSegment> segs);
  ~MrMapping();
  MrMapping(MrMapping&& o) noexcept { *this = std::move(o); }
  MrMapping& operator=(MrMapping&& o) noexcept;

  // Engine address of the first mapped page (the request's page_addr).
  uint8_t* base() const { return base_; }
  size_t length() const { return length_; }

 private:
  uint8_t* base_ = nullptr;
  size_t length_ = 0;
};

}  // namespace flexins::engine
