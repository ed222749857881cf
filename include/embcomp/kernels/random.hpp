// Counter-based random numbers: the value depends only on (stream, counter), so results are
// identical for any thread count or evaluation order, on CPU and GPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "embcomp/kernels/hash.hpp"

namespace embcomp::kernels {

/// Uniform in [0, 1) with 24 random bits, from a stream key and a counter.
EMBCOMP_HD float uniform01(std::uint64_t stream, std::uint64_t counter) {
  const std::uint64_t bits = mix64(stream ^ (counter * 0xD1B54A32D192ED03ULL));
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}

/// Uniform in [lo, hi).
EMBCOMP_HD float uniform(std::uint64_t stream, std::uint64_t counter, float lo, float hi) {
  return lo + (hi - lo) * uniform01(stream, counter);
}

/// Uniform integer in [0, n) for 0 < n < 2^32 (the high 32 bits scaled: no modulo bias
/// beyond 2^-32).
EMBCOMP_HD std::uint64_t uniform_below(std::uint64_t stream, std::uint64_t counter, std::uint64_t n) {
  const std::uint64_t bits = mix64(stream ^ (counter * 0xD1B54A32D192ED03ULL));
  return ((bits >> 32) * n) >> 32;
}

/// Standard normal from counters 2c and 2c + 1 of `stream` (Box-Muller).
EMBCOMP_HD float standard_normal(std::uint64_t stream, std::uint64_t counter) {
  const float u1 = std::fmax(uniform01(stream, 2 * counter), 1e-7f);
  const float u2 = uniform01(stream, 2 * counter + 1);
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
}

/// Standard Gumbel, -log(-log u) with u in (0, 1) (the bits' midpoint: never 0 or 1).
EMBCOMP_HD float gumbel(std::uint64_t stream, std::uint64_t counter) {
  const std::uint64_t bits = mix64(stream ^ (counter * 0xD1B54A32D192ED03ULL));
  const float u = (static_cast<float>(bits >> 40) + 0.5f) * (1.0f / 16777216.0f);
  return -std::log(-std::log(u));
}

}  // namespace embcomp::kernels
