// Tables with planted duplicate blocks, for the dedup tests.
#pragma once

#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp::test {

/// A [blocks r x d] table whose block b equals block source[b] (plus noise below fp) when
/// source[b] >= 0, and is random (far from every other block) otherwise.
inline std::vector<float> planted_table(const std::vector<Index>& source, Index r, Index d, float noise) {
  std::vector<float> w(source.size() * static_cast<std::size_t>(r * d));
  for (std::size_t b = 0; b < source.size(); ++b) {
    for (Index i = 0; i < r * d; ++i) {
      const auto from = source[b] >= 0 ? static_cast<std::size_t>(source[b]) : b;
      const float base = kernels::uniform(kernels::combine(9, from), static_cast<std::uint64_t>(i), -1.0f, 1.0f);
      const float jitter = source[b] >= 0 ? kernels::uniform(kernels::combine(7, b), static_cast<std::uint64_t>(i), -noise, noise) : 0.0f;
      w[b * static_cast<std::size_t>(r * d) + static_cast<std::size_t>(i)] = base + jitter;
    }
  }
  return w;
}

}  // namespace embcomp::test
