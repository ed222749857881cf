// Hash functions on 64-bit keys. xxhash64 is the XXH64 algorithm specialised to one 8-byte
// little-endian input, so CPU and CUDA code share it; tests check it against libxxhash.
#pragma once

#include <cstdint>

#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

inline constexpr std::uint64_t kXxPrime1 = 0x9E3779B185EBCA87ULL;
inline constexpr std::uint64_t kXxPrime2 = 0xC2B2AE3D27D4EB4FULL;
inline constexpr std::uint64_t kXxPrime3 = 0x165667B19E3779F9ULL;
inline constexpr std::uint64_t kXxPrime4 = 0x85EBCA77C2B2AE63ULL;
inline constexpr std::uint64_t kXxPrime5 = 0x27D4EB2F165667C5ULL;

EMBCOMP_HD std::uint64_t rotl64(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/// XXH64(&key, 8, seed) for a little-endian 8-byte key.
EMBCOMP_HD std::uint64_t xxhash64(std::uint64_t key, std::uint64_t seed) {
  std::uint64_t h = seed + kXxPrime5 + 8;
  const std::uint64_t k = rotl64(key * kXxPrime2, 31) * kXxPrime1;
  h ^= k;
  h = rotl64(h, 27) * kXxPrime1 + kXxPrime4;
  h ^= h >> 33;
  h *= kXxPrime2;
  h ^= h >> 29;
  h *= kXxPrime3;
  h ^= h >> 32;
  return h;
}

/// splitmix64 finaliser: a cheap bijective mixer for counters (random streams, seeds).
EMBCOMP_HD std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Combines two 64-bit values into one well-mixed key (order matters).
EMBCOMP_HD std::uint64_t combine(std::uint64_t a, std::uint64_t b) { return mix64(a ^ mix64(b)); }

}  // namespace embcomp::kernels
