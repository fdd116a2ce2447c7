#include "engine/rx_per_qp.h"

#include <cstring>

namespace flexins::engine {

void RxPerQpRings::stage(uint32_t qpn, const uint8_t* data, uint32_t len, wire::Packet& pkt) {
  if (len > kRingBytes) return;
  auto [it, added] = rings_.try_emplace(qpn);
  Ring& r = it->second;
  if (added) {
    r.buf = std::make_unique<uint8_t[]>(kRingBytes);  // zeroed: its pages are resident, as a posted ring's are
    const uint64_t now = bytes_.load(std::memory_order_relaxed) + kRingBytes;
    bytes_.store(now, std::memory_order_relaxed);
    if (now > peak_.load(std::memory_order_relaxed)) peak_.store(now, std::memory_order_relaxed);
  }
  if (r.next + len > kRingBytes) r.next = 0;
  uint8_t* copy = r.buf.get() + r.next;
  std::memcpy(copy, data, len);
  r.next = (r.next + len + 63u) & ~63u;  // cache-line aligned slots
  if (pkt.payload != nullptr) pkt.payload = copy + (pkt.payload - data);
}

void RxPerQpRings::release(uint32_t qpn) {
  if (rings_.erase(qpn) != 0) bytes_.store(bytes_.load(std::memory_order_relaxed) - kRingBytes, std::memory_order_relaxed);
}

}  // namespace flexins::engine
