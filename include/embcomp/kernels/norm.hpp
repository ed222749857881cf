// Euclidean norm of one row, summed in a fixed lane order that the compiler can vectorise (a
// single running sum cannot be, without reassociation): lane i sums the squares of elements
// i, i + 8, i + 16, ...; the eight lanes are then added pairwise. l2_norms: the norm of every
// row of a matrix in the same order, bit for bit, four rows at a time on x86 (host only).
#pragma once

#include <cmath>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && !defined(__CUDACC__)
#include <emmintrin.h>
#define EMBCOMP_NORM_SSE 1
#else
#define EMBCOMP_NORM_SSE 0
#endif

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

#if EMBCOMP_NORM_SSE
/// out[k] = l2_norm(row[k], d) for k < 4, bit for bit, d a multiple of 8: lanes 0-3 and 4-7 of
/// each row in two registers (l2_norm's lane sums, in its order), their pairwise sums
/// transposed across the four rows, then added and rooted as l2_norm adds and roots them.
inline __m128 l2_norm4(const float* const row[4], Index d) {
  __m128 pair_sums[4];
  for (Index k = 0; k < 4; ++k) {
    __m128 low = _mm_setzero_ps(), high = _mm_setzero_ps();
    for (Index c = 0; c < d; c += 8) {
      const __m128 a = _mm_loadu_ps(row[k] + c), b = _mm_loadu_ps(row[k] + c + 4);
      low = _mm_add_ps(low, _mm_mul_ps(a, a));
      high = _mm_add_ps(high, _mm_mul_ps(b, b));
    }
    pair_sums[k] = _mm_add_ps(low, high);  // lane i + lane i + 4, i < 4
  }
  _MM_TRANSPOSE4_PS(pair_sums[0], pair_sums[1], pair_sums[2], pair_sums[3]);
  return _mm_sqrt_ps(_mm_add_ps(_mm_add_ps(pair_sums[0], pair_sums[1]),
                                _mm_add_ps(pair_sums[2], pair_sums[3])));
}
#endif

/// out[r] = l2_norm(x + r * d, d) for r < rows, bit for bit; four rows at a time with SSE
/// where d is a multiple of 8 (l2_norm4). A row at a time costs some 26 cycles, the square
/// root's latency one row after another.
inline void l2_norms(const float* x, Index rows, Index d, float* out) {
  Index r = 0;
#if EMBCOMP_NORM_SSE
  if (d % 8 == 0) {
    for (; r + 4 <= rows; r += 4) {
      const float* const four[4] = {x + r * d, x + (r + 1) * d, x + (r + 2) * d, x + (r + 3) * d};
      _mm_storeu_ps(out + r, l2_norm4(four, d));
    }
  }
#endif
  for (; r < rows; ++r) out[r] = l2_norm(x + r * d, d);
}

/// out[rows[k]] = l2_norm(x + rows[k] * d, d) for k < count, bit for bit: l2_norms over listed
/// rows of a matrix (four at a time with SSE where d is a multiple of 8).
inline void l2_norms_at(const float* x, Index d, const Index* rows, Index count, float* out) {
  Index k = 0;
#if EMBCOMP_NORM_SSE
  if (d % 8 == 0) {
    for (; k + 4 <= count; k += 4) {
      const float* const four[4] = {x + rows[k] * d, x + rows[k + 1] * d, x + rows[k + 2] * d,
                                    x + rows[k + 3] * d};
      alignas(16) float norms[4];
      _mm_store_ps(norms, l2_norm4(four, d));
      for (Index j = 0; j < 4; ++j) out[rows[k + j]] = norms[j];
    }
  }
#endif
  for (; k < count; ++k) out[rows[k]] = l2_norm(x + rows[k] * d, d);
}

}  // namespace embcomp::kernels
