#include "engine/tx_copy.h"

#include <cstring>

namespace flexins::engine {

uint32_t TxCopy::stage(uint32_t slot, std::span<iovec> payload, transport::Counter& copied) {
  size_t total = 0;
  for (const iovec& v : payload) total += v.iov_len;
  if (payload.empty() || total > kSlotBytes || size_t(slot + 1) * kSlotBytes > buffers_.size())
    return uint32_t(payload.size());
  uint8_t* out = buffers_.data() + size_t(slot) * kSlotBytes;
  size_t at = 0;
  for (const iovec& v : payload) {
    std::memcpy(out + at, v.iov_base, v.iov_len);
    at += v.iov_len;
  }
  payload[0] = {out, total};
  copied.add(total);
  return 1;
}

}  // namespace flexins::engine
