// Deterministic initialisation of dense layers from a seed (counter-based, so the same seed
// gives the same weights on any thread count).
#pragma once

#include <cmath>
#include <cstdint>

#include "embcomp/core/parameter.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp::nn {

/// Xavier-normal (Glorot) init, the reference's default for MLP weights:
/// N(0, 2 / (fan_in + fan_out)), element i drawn from (seed, i).
inline void fill_xavier_normal(Parameter& p, Index fan_in, Index fan_out, std::uint64_t seed) {
  const float stddev = std::sqrt(2.0f / static_cast<float>(fan_in + fan_out));
  float* values = p.data();
  for (std::size_t i = 0; i < p.size(); ++i) values[i] = stddev * kernels::standard_normal(seed, i);
}

}  // namespace embcomp::nn
