// Seeded randomness for the fabric: the same on every platform, so a seed
// fixes a run (std::uniform_real_distribution is not specified bit for bit).
#pragma once

#include <cstdint>

namespace flexins::fabric {

// SplitMix64 (Steele, Lea, Flood): a well-mixed 64-bit function of x, for
// deriving seeds and data patterns.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// [0, 1) from 53 random bits of a 64-bit draw.
constexpr double unit_interval(uint64_t draw) { return double(draw >> 11) * 0x1.0p-53; }

}  // namespace flexins::fabric
