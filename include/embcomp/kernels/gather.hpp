// Row gather: out[p] = table[rows[p]] for fp32 row-major tables, with software prefetch a few
// positions ahead so that random rows of a large table stream at the memory system's rate.
#pragma once

#include <algorithm>
#include <cstring>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/parallel.hpp"


namespace embcomp::kernels {

inline constexpr Index kPrefetchDistance = 8;  // a power of two (ring buffer below)

/// Prefetches the cache lines of one row of `width` floats.
inline void prefetch_row(const float* row, Index width) {
  for (Index c = 0; c < width; c += 16) __builtin_prefetch(row + c);
}

/// For p in [0, count): out + p*width <- table + row_of(p)*width.
/// row_of is called once per position (it may hash): each thread takes one contiguous range of
/// positions and keeps the rows of the next kPrefetchDistance positions in a small ring, so the
/// row it prefetches is the row it copies later.
template <class RowOf>
void gather_rows(const float* table, Index width, Index count, RowOf row_of, float* out) {
  const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(width);
#pragma omp parallel if (count > 1024)
  {
    const ThreadShare share = ThreadShare::current();
    const Index begin = share.begin_of(count);
    const Index end = share.end_of(count);
    constexpr Index kMask = kPrefetchDistance - 1;
    Index ring[kPrefetchDistance];
    const Index primed = std::min(end, begin + kPrefetchDistance);
    for (Index p = begin; p < primed; ++p) {
      ring[p & kMask] = row_of(p);
      prefetch_row(table + ring[p & kMask] * width, width);
    }
    for (Index p = begin; p < end; ++p) {
      const Index row = ring[p & kMask];
      if (p + kPrefetchDistance < end) {
        const Index ahead = row_of(p + kPrefetchDistance);
        ring[p & kMask] = ahead;  // (p + distance) & mask == p & mask
        prefetch_row(table + ahead * width, width);
      }
      std::memcpy(out + p * width, table + row * width, row_bytes);
    }
  }
}

}  // namespace embcomp::kernels
