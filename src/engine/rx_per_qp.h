// Ablation rx-per-qp (measurement only, see ablation.h): the naive
// counterpart of the small shared RX pool. Every QP gets a large receive ring
// of its own, allocated when its first packet arrives, and each packet is
// staged there before the QP processes it, so the RX working set grows with
// the number of QPs (kRingBytes each) and soon exceeds the cache.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "wire/packet.h"

namespace flexins::engine {

class RxPerQpRings {
 public:
  static constexpr uint32_t kRingBytes = 256 << 10;

  // Copy the datagram [data, data + len) into `qpn`'s ring and point
  // pkt.payload (which parse() pointed into data) at the copy.
  void stage(uint32_t qpn, const uint8_t* data, uint32_t len, wire::Packet& pkt);
  // The QP is gone: free its ring.
  void release(uint32_t qpn);
  // Bytes the rings hold, for `flexins stat` (any thread).
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t peak_bytes() const { return peak_.load(std::memory_order_relaxed); }

 private:
  struct Ring {
    std::unique_ptr<uint8_t[]> buf;
    uint32_t next = 0;  // where the next packet goes
  };
  std::unordered_map<uint32_t, Ring> rings_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> peak_{0};  // the most they ever held
};

}  // namespace flexins::engine
