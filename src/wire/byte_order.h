// Big-endian loads and stores of 1..8-byte unsigned fields at any alignment.
// The wire headers are read and written only through these (no bit-fields,
// no casts of packet pointers to structs); the compiler turns the byte loops
// into single loads plus a byte swap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flexins::wire {

template <size_t Bytes>
constexpr uint64_t load_be(const uint8_t* p) {
  static_assert(Bytes >= 1 && Bytes <= 8);
  uint64_t v = 0;
  for (size_t i = 0; i < Bytes; ++i) v = (v << 8) | p[i];
  return v;
}

template <size_t Bytes>
constexpr void store_be(uint8_t* p, uint64_t v) {
  static_assert(Bytes >= 1 && Bytes <= 8);
  for (size_t i = Bytes; i-- > 0;) {
    p[i] = uint8_t(v);
    v >>= 8;
  }
}

inline uint16_t load_be16(const uint8_t* p) { return uint16_t(load_be<2>(p)); }
inline uint32_t load_be24(const uint8_t* p) { return uint32_t(load_be<3>(p)); }
inline uint32_t load_be32(const uint8_t* p) { return uint32_t(load_be<4>(p)); }
inline uint64_t load_be64(const uint8_t* p) { return load_be<8>(p); }
inline void store_be16(uint8_t* p, uint16_t v) { store_be<2>(p, v); }
inline void store_be24(uint8_t* p, uint32_t v) { store_be<3>(p, v); }
inline void store_be32(uint8_t* p, uint32_t v) { store_be<4>(p, v); }
inline void store_be64(uint8_t* p, uint64_t v) { store_be<8>(p, v); }

}  // namespace flexins::wire
