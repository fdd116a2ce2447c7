#include "wire/sack.h"

#include <cstring>

#include "wire/field.h"

namespace flexins::wire {
namespace {

// sack.h: reserved byte, first PSN (24 bits), bit count, 2 reserved bytes.
using SackHeaderLayout = Layout<kSackHeaderBytes,
                                Field<&SackBlock::first_psn, 1, 3>,
                                Field<&SackBlock::bits, 4, 2>>;

}  // namespace

size_t build_sack(const SackBlock& b, uint8_t* out) {
  const size_t n = b.size();
  std::memset(out, 0, n);
  SackHeaderLayout::store(out, b);
  const size_t full = b.bits / 8;
  std::memcpy(out + kSackHeaderBytes, b.bitmap.data(), full);
  if (b.bits % 8 != 0) out[kSackHeaderBytes + full] = uint8_t(b.bitmap[full] & (0xff00u >> (b.bits % 8)));
  return n;
}

bool parse_sack(std::span<const uint8_t> in, SackBlock& out) {
  out = SackBlock{};
  if (in.size() < kSackHeaderBytes) return false;
  SackHeaderLayout::load(in.data(), out);
  if (out.bits > kMaxSackBits || in.size() != out.size()) return false;
  const size_t bytes = (size_t(out.bits) + 7) / 8;
  std::memcpy(out.bitmap.data(), in.data() + kSackHeaderBytes, bytes);
  if (out.bits % 8 != 0) out.bitmap[bytes - 1] = uint8_t(out.bitmap[bytes - 1] & (0xff00u >> (out.bits % 8)));
  return true;
}

}  // namespace flexins::wire
