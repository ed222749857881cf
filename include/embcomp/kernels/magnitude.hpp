// Magnitude pruning: zero the k smallest |w| of an array, exactly k of them (ties broken by
// position), in a fixed number of passes and O(1) extra memory. The k-th smallest magnitude is
// found by a radix select on the bits of |w|: for non-negative floats the IEEE bit pattern,
// read as an unsigned integer, orders like the value, so two 16-bit histogram passes (high
// half, then low half within the chosen high bucket) give it exactly. The reference binary-
// searched a threshold with up to 100 full passes and stopped within a tolerance. Also the pruning
// by learned thresholds: PEP's soft threshold, OptEmbed's binary step and its surrogate slope.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/host_device.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp::kernels {

/// The bits of |x| as an unsigned key that orders like |x| (NaN is not expected here).
EMBCOMP_HD std::uint32_t magnitude_key(float x) {
  return std::bit_cast<std::uint32_t>(x) & 0x7fffffffu;
}

/// OptEmbed's row mask: 1 where x = |row|_1 - t > 0, else 0.
EMBCOMP_HD float binary_step(float x) { return x > 0.0f ? 1.0f : 0.0f; }

/// The surrogate derivative of binary_step that training uses (spec methods-intra §6 (d)):
/// 2 - 4|x| for |x| <= 0.4, 0.4 for 0.4 < |x| <= 1, 0 beyond.
EMBCOMP_HD float binary_step_surrogate(float x) {
  const float a = std::fabs(x);
  if (a <= 0.4f) return 2.0f - 4.0f * a;
  return a <= 1.0f ? 0.4f : 0.0f;
}

/// OptEmbed's row score x = |e|_1 - t of a row e [d] against its field's threshold t.
EMBCOMP_HD float row_score(const float* e, Index d, float t) {
  float norm = 0.0f;
  for (Index c = 0; c < d; ++c) norm += std::fabs(e[c]);
  return norm - t;
}

/// OptEmbed's dimension mask at supernet step `step`: the width k_p + 1 in [1, d] that position
/// p of a batch of `positions` keeps, uniform and counter-based (a repeated forward draws the
/// same); `seed` is the table's.
EMBCOMP_HD Index supernet_mask_width(std::uint64_t seed, std::uint64_t step, Index positions,
                                     Index p, Index d) {
  const std::uint64_t counter =
      step * static_cast<std::uint64_t>(positions) + static_cast<std::uint64_t>(p);
  return 1 + static_cast<Index>(
                 uniform_below(combine(seed, 0x0E7BULL), counter, static_cast<std::uint64_t>(d)));
}

/// (e * M) . g over the first `width` entries of e and g.
EMBCOMP_HD float masked_dot(const float* e, Index width, const float* g) {
  float dot = 0.0f;
  for (Index c = 0; c < width; ++c) dot += e[c] * g[c];
  return dot;
}

/// OptEmbed's surrogate gradient of entry c of a supernet row e read by one position of mask
/// `width`, row mask m and slope s(x) (e M) . g: m g_c where c < width, plus slope sign(e_c).
EMBCOMP_HD float supernet_entry_gradient(float e, float g, Index c, Index width, float m,
                                         float slope) {
  const float sign = e > 0.0f ? 1.0f : (e < 0.0f ? -1.0f : 0.0f);
  return (c < width ? m * g : 0.0f) + slope * sign;
}

/// PEP's soft threshold of v at t >= 0: sign(v) max(|v| - t, 0). Its derivative is 1 in v and
/// -sign(v) in t where |v| > t (the entry is active), 0 in both otherwise.
EMBCOMP_HD float soft_threshold(float v, float t) {
  const float excess = std::fabs(v) - t;
  return excess > 0.0f ? std::copysign(excess, v) : 0.0f;
}

/// The key of the k-th smallest |w| (k counted from 1) among w[0, n), 1 <= k <= n: a radix
/// select in two histogram passes over w.
inline std::uint32_t kth_smallest_magnitude_key(const float* w, Index n, Index k) {
  constexpr std::size_t kBuckets = 1 << 16;
  std::vector<Index> counts(kBuckets, 0);
  for (Index i = 0; i < n; ++i) ++counts[magnitude_key(w[i]) >> 16];
  std::uint32_t high = 0;
  Index below = 0;  // elements in buckets before `high`
  while (below + counts[high] < k) below += counts[high++];
  std::fill(counts.begin(), counts.end(), 0);
  for (Index i = 0; i < n; ++i) {
    const std::uint32_t key = magnitude_key(w[i]);
    if ((key >> 16) == high) ++counts[key & 0xffffu];
  }
  std::uint32_t low = 0;
  while (below + counts[low] < k) below += counts[low++];
  return (high << 16) | low;
}

/// Zeroes exactly `k` entries of w[0, n) (0 <= k <= n): every |w| below the k-th smallest
/// magnitude, then entries equal to it in index order until k are zero. Entries already zero
/// count among the k. Returns the magnitude threshold (the k-th smallest |w|; 0 when k = 0).
inline float prune_smallest(float* w, Index n, Index k) {
  if (k <= 0) return 0.0f;
  if (k >= n) {
    std::fill(w, w + n, 0.0f);
    return n > 0 ? INFINITY : 0.0f;
  }
  const std::uint32_t threshold = kth_smallest_magnitude_key(w, n, k);
  Index pruned = 0;
  for (Index i = 0; i < n; ++i) pruned += magnitude_key(w[i]) < threshold;
  Index ties = k - pruned;  // entries equal to the threshold still to zero
  for (Index i = 0; i < n; ++i) {
    const std::uint32_t key = magnitude_key(w[i]);
    if (key < threshold) {
      w[i] = 0.0f;
    } else if (key == threshold && ties > 0) {
      w[i] = 0.0f;
      --ties;
    }
  }
  return std::bit_cast<float>(threshold);
}

/// The plain twin of prune_smallest, for tests: a stable sort of positions by |w|, the first k
/// zeroed.
inline void prune_smallest_reference(float* w, Index n, Index k) {
  std::vector<Index> order(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [w](Index a, Index b) { return std::fabs(w[a]) < std::fabs(w[b]); });
  for (Index j = 0; j < std::min(k, n); ++j) w[order[static_cast<std::size_t>(j)]] = 0.0f;
}

}  // namespace embcomp::kernels
