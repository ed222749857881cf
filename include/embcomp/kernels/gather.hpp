// Row gather: out[p] = table[rows[p]] for fp32 row-major tables, with software prefetch a few
// positions ahead so that random rows of a large table stream at the memory system's rate.
#pragma once

#include <algorithm>
#include <cstring>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/parallel.hpp"

namespace embcomp::kernels {

inline constexpr Index kPrefetchDistance = 8;  // a power of two (ring buffer below)

/// dst[0 .. width) = src[0 .. width): a fixed-size copy the compiler inlines for the usual
/// widths (a memcpy call of a runtime size costs more than the copy of a 16-float row).
inline void copy_row(const float* src, Index width, float* dst) {
  switch (width) {
    case 8: std::memcpy(dst, src, 8 * sizeof(float)); return;
    case 16: std::memcpy(dst, src, 16 * sizeof(float)); return;
    case 32: std::memcpy(dst, src, 32 * sizeof(float)); return;
    case 64: std::memcpy(dst, src, 64 * sizeof(float)); return;
    default: std::memcpy(dst, src, static_cast<std::size_t>(width) * sizeof(float));
  }
}

/// Prefetches the cache lines of one row of `width` floats.
inline void prefetch_row(const float* row, Index width) {
  for (Index c = 0; c < width; c += 16) __builtin_prefetch(row + c);
}

/// For p in [0, count): out + p*width <- table + row(p)*width, where the rows come from
/// `rows_from`: each thread takes one contiguous range [begin, end) of positions, makes
/// `next = rows_from(begin)` and calls next() once per position, in order (the row of begin,
/// then of begin + 1, ...), so a row source can walk positions incrementally (e.g. track the
/// field of each position without a division). The rows of the next kPrefetchDistance positions
/// wait in a small ring, so the row prefetched is the row copied later.
template <class RowsFrom>
void gather_rows_from(const float* table, Index width, Index count, RowsFrom rows_from,
                      float* out) {
  const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(width);
#pragma omp parallel if (count > 1024)
  {
    const ThreadShare share = ThreadShare::current();
    const Index begin = share.begin_of(count);
    const Index end = share.end_of(count);
    auto next = rows_from(begin);
    constexpr Index kMask = kPrefetchDistance - 1;
    Index ring[kPrefetchDistance];
    const Index primed = std::min(end, begin + kPrefetchDistance);
    for (Index p = begin; p < primed; ++p) {
      ring[p & kMask] = next();
      prefetch_row(table + ring[p & kMask] * width, width);
    }
    for (Index p = begin; p < end; ++p) {
      const Index row = ring[p & kMask];
      if (p + kPrefetchDistance < end) {
        const Index ahead = next();  // the row of p + kPrefetchDistance
        ring[p & kMask] = ahead;     // (p + distance) & mask == p & mask
        prefetch_row(table + ahead * width, width);
      }
      std::memcpy(out + p * width, table + row * width, row_bytes);
    }
  }
}

/// A row source for gather_rows_from that calls row_of(p) for p = begin, begin + 1, ...
template <class RowOf>
auto rows_by_position(const RowOf& row_of) {
  return [&row_of](Index begin) { return [&row_of, p = begin]() mutable { return row_of(p++); }; };
}

/// For p in [0, count): out + p*width <- table + row_of(p)*width; row_of is called once per
/// position (it may hash).
template <class RowOf>
void gather_rows(const float* table, Index width, Index count, RowOf row_of, float* out) {
  gather_rows_from(table, width, count, rows_by_position(row_of), out);
}

}  // namespace embcomp::kernels
