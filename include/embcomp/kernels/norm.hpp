// Euclidean norm of one row, summed in a fixed lane order that the compiler can vectorise (a
// single running sum cannot be, without reassociation): lane i sums the squares of elements
// i, i + 8, i + 16, ...; the eight lanes are then added pairwise.
#pragma once

#include <cmath>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// sqrt(sum_c x[c]^2) over x[0 .. n).
EMBCOMP_HD float l2_norm(const float* x, Index n) {
  constexpr Index kLanes = 8;
  float lane[kLanes] = {};
  Index c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    for (Index i = 0; i < kLanes; ++i) lane[i] += x[c + i] * x[c + i];
  }
  for (Index i = 0; c < n; ++c, ++i) lane[i] += x[c] * x[c];
  const float sum = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  return std::sqrt(sum);
}

}  // namespace embcomp::kernels
