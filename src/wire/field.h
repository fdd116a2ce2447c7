// Header layouts described once, as a list of fields; loading and storing a
// header are both generated from that list, so the two cannot drift apart.
//
//   using AethLayout = Layout<4, Field<&Aeth::syndrome, 0, 1>, Field<&Aeth::msn, 1, 3>>;
//
// A Field is `Bits` bits of the `Bytes`-byte big-endian word at byte `Offset`,
// `Shift` bits above that word's least significant bit (Bits defaults to the
// whole word). Stores merge into the word, so sub-byte fields sharing a byte
// are written by successive fields; reserved bits keep what the buffer held
// (build() zeroes the header first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "wire/byte_order.h"

namespace flexins::wire {

template <auto Member, size_t Offset, size_t Bytes, unsigned Shift = 0, unsigned Bits = Bytes * 8>
struct Field {
  static_assert(Shift + Bits <= Bytes * 8, "field must fit its word");
  static constexpr uint64_t kMask = Bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << Bits) - 1;
  static constexpr size_t kEnd = Offset + Bytes;

  template <class S>
  static void load(const uint8_t* hdr, S& s) {
    using T = std::remove_reference_t<decltype(s.*Member)>;
    s.*Member = static_cast<T>((load_be<Bytes>(hdr + Offset) >> Shift) & kMask);
  }
  template <class S>
  static void store(uint8_t* hdr, const S& s) {
    uint64_t word = load_be<Bytes>(hdr + Offset) & ~(kMask << Shift);
    word |= (static_cast<uint64_t>(s.*Member) & kMask) << Shift;
    store_be<Bytes>(hdr + Offset, word);
  }
};

template <size_t Size, class... Fields>
struct Layout {
  static constexpr size_t kSize = Size;
  static_assert(((Fields::kEnd <= Size) && ...), "field outside its header");

  template <class S>
  static void load(const uint8_t* hdr, S& s) {
    (Fields::load(hdr, s), ...);
  }
  template <class S>
  static void store(uint8_t* hdr, const S& s) {
    (Fields::store(hdr, s), ...);
  }
};

}  // namespace flexins::wire
