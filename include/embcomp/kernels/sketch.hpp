// HotSketch bucket choice (spec cafe.md §1): which of w buckets a global feature id uses, written
// once for the CPU sketch and for device code.
//   modulo          the reference (CAFE artifact):   id mod w
//   multiplicative  CAFE+ (tricks/sketch.cpp):        (id * 1000000007) mod w
//   xxhash          XXH64(id, seed) mod w            (robust to structured ids)
#pragma once

#include <cstdint>

#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

enum class SketchHash : std::uint8_t { modulo = 0, multiplicative = 1, xxhash = 2 };

/// The multiplier of CAFE+'s bucket hash.
inline constexpr std::uint64_t kSketchMultiplier = 1000000007ULL;

/// Bucket in [0, buckets) of the global id `id`.
EMBCOMP_HD std::uint64_t sketch_bucket(std::uint64_t id, std::uint64_t buckets, std::uint64_t seed,
                                       SketchHash kind) {
  switch (kind) {
    case SketchHash::multiplicative: return (id * kSketchMultiplier) % buckets;
    case SketchHash::xxhash: return bucket(id, buckets, seed, HashKind::xxhash);
    case SketchHash::modulo: break;
  }
  return bucket(id, buckets, seed, HashKind::modulo);
}

/// Multiplier of fastmod32 for divisor m >= 1: floor((2^64 - 1) / m) + 1 (mod 2^64).
EMBCOMP_HD std::uint64_t fastmod32_multiplier(std::uint32_t m) { return ~std::uint64_t{0} / m + 1; }

/// x mod m for 32-bit x and m >= 1 without a division (Lemire, Kaser and Kurz 2019: exact for
/// every 32-bit x and m), given multiplier = fastmod32_multiplier(m). Bucket choice runs once per
/// lookup position, where a 64-bit division is a large share of the cost.
EMBCOMP_HD std::uint32_t fastmod32(std::uint32_t x, std::uint64_t multiplier, std::uint32_t m) {
  __extension__ using u128 = unsigned __int128;
  const std::uint64_t low = multiplier * x;
  return static_cast<std::uint32_t>((static_cast<u128>(low) * m) >> 64);
}

/// The decay trigger: decay runs before a batch insert once the score inserted since the last
/// decay exceeds 10 x buckets x threshold.
EMBCOMP_HD bool sketch_decay_due(double inserted, std::uint64_t buckets, double threshold) {
  return inserted > 10.0 * static_cast<double>(buckets) * threshold;
}

}  // namespace embcomp::kernels
