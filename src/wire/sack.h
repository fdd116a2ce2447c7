// The FlexiNS selective acknowledgement (SACK) block: the payload of an RC
// Acknowledge (opcode 0x11) whose BTH carries the SR bit (packet.h). A
// responder in selective-repeat mode sends it only to a requester that
// marked its own packets SR (transport/selective_repeat.h says when). The
// packet is an ordinary NAK, PSN sequence error (AETH), whose BTH PSN is
// the PSN the responder expects; the block after the AETH says what it has
// seen beyond that PSN:
//
//   byte 0       reserved (0)
//   bytes 1-3    first PSN: the PSN of bit 0 (the expected PSN + 1)
//   bytes 4-5    bit count n: the bitmap covers PSNs first .. first + n - 1,
//                every PSN after the expected one that the responder has
//                seen so far (n <= kMaxSackBits: a window longer than that
//                is reported in part)
//   bytes 6-7    reserved (0)
//   bytes 8..    the bitmap, ceil(n / 32) 32-bit words; bit i (byte i / 8,
//                most significant bit first) is set when PSN first + i was
//                placed. A clear bit is a PSN that was lost, or that arrived
//                and was dropped (the responder takes it only in order).
//
// At most 128 bytes; always a multiple of 4, so no pad. Reserved fields are
// sent as 0 and ignored on receive. Pure functions, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "wire/packet.h"

namespace flexins::wire {

inline constexpr size_t kSackHeaderBytes = 8;
inline constexpr size_t kMaxSackBytes = 128;
inline constexpr uint32_t kMaxSackBits = uint32_t(kMaxSackBytes - kSackHeaderBytes) * 8;  // 960
// Transport headers and a SACK block: what a transmit header buffer holds.
inline constexpr size_t kMaxHeadersWithSack = kMaxTransportHeaders + kMaxSackBytes;

struct SackBlock {
  uint32_t first_psn = 0;  // 24 bits
  uint16_t bits = 0;       // PSNs the bitmap covers, <= kMaxSackBits
  std::array<uint8_t, kMaxSackBits / 8> bitmap{};

  bool test(uint32_t i) const { return i < bits && (bitmap[i / 8] >> (7 - i % 8)) & 1; }
  void set(uint32_t i) {
    if (i < bits) bitmap[i / 8] = uint8_t(bitmap[i / 8] | (0x80u >> (i % 8)));
  }
  // Bytes on the wire: the header and whole 32-bit words of bitmap.
  size_t size() const { return kSackHeaderBytes + (size_t(bits) + 31) / 32 * 4; }
};

// Write the block (size() bytes: bits past `bits` in its last word as 0).
size_t build_sack(const SackBlock& b, uint8_t* out);
// Read a block; false if it is malformed (shorter than its header, a bit
// count above kMaxSackBits, or a length that does not match the count).
bool parse_sack(std::span<const uint8_t> in, SackBlock& out);

}  // namespace flexins::wire
