// Bucket choice for hashed tables: which of m rows a 64-bit key uses.
#pragma once

#include <cstdint>

#include "embcomp/kernels/hash.hpp"

namespace embcomp::kernels {

enum class HashKind : std::uint8_t { xxhash = 0, modulo = 1 };

/// Row in [0, m) for `key`: xxhash64(key, seed) mod m, or plain key mod m (the reference).
EMBCOMP_HD std::uint64_t bucket(std::uint64_t key, std::uint64_t m, std::uint64_t seed,
                                HashKind kind) {
  return (kind == HashKind::xxhash ? xxhash64(key, seed) : key) % m;
}

}  // namespace embcomp::kernels
