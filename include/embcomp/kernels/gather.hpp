// Row gather: out[p] = table[rows[p]] for fp32 row-major tables, with software prefetch a few
// positions ahead so that random rows of a large table stream at the memory system's rate.
#pragma once

#include <algorithm>
#include <cstring>

#include "embcomp/core/types.hpp"

namespace embcomp::kernels {

inline constexpr Index kPrefetchDistance = 8;

/// For p in [0, count): out + p*width <- table + row_of(p)*width.
template <class RowOf>
void gather_rows(const float* table, Index width, Index count, RowOf row_of, float* out) {
#pragma omp parallel for schedule(static) if (count > 1024)
  for (Index p = 0; p < count; ++p) {
    if (p + kPrefetchDistance < count) {
      const float* ahead = table + row_of(p + kPrefetchDistance) * width;
      for (Index c = 0; c < width; c += 16) __builtin_prefetch(ahead + c);
    }
    std::memcpy(out + p * width, table + row_of(p) * width, sizeof(float) * width);
  }
}

}  // namespace embcomp::kernels
