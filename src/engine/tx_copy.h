// Ablation tx-copy (measurement only, see ablation.h): the naive counterpart
// of header-only TX. Each packet's payload is copied from registered memory
// into an engine-owned buffer, one per TX batch slot, before it is sent.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

#include "transport/counters.h"

namespace flexins::engine {

class TxCopy {
 public:
  static constexpr uint32_t kSlotBytes = 9216;  // a jumbo frame's payload at most

  explicit TxCopy(uint32_t slots) : buffers_(size_t(slots) * kSlotBytes) {}

  // Copy the payload pieces into `slot`'s buffer and replace them with one
  // iovec pointing there; counts the bytes in `copied`. Returns how many
  // payload iovecs there are now (unchanged if the payload does not fit).
  uint32_t stage(uint32_t slot, std::span<iovec> payload, transport::Counter& copied);

 private:
  std::vector<uint8_t> buffers_;
};

}  // namespace flexins::engine
