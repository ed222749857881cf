// RowGroups: the backward half of a gather. Given the storage row each lookup position read,
// it finds the unique rows (first-occurrence order) and, for each, the positions that read it
// (CSR, positions ascending). reduce() then sums per-position contributions into one gradient
// row per unique row, in parallel over rows and in a fixed order, so results are deterministic.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/parallel.hpp"


namespace embcomp::kernels {

/// acc[c] += src[p * width + c] for p in `positions` (in order), c < width: column blocks of
/// Block floats summed in a local array the compiler keeps in registers, so the chain of
/// additions per column does not go through memory (an add per column per position, in the
/// same order as a plain loop, hence the same result).
template <Index Block>
void add_rows_block(std::span<const Index> positions, const float* src, Index width, float* acc) {
  float sum[Block];
  for (Index c = 0; c < Block; ++c) sum[c] = acc[c];
  for (Index p : positions) {
    const float* row = src + p * width;
    for (Index c = 0; c < Block; ++c) sum[c] += row[c];
  }
  for (Index c = 0; c < Block; ++c) acc[c] = sum[c];
}

/// acc[0 .. width) += the sum of rows src[p * width ...] over `positions`, in order.
inline void add_rows_at(std::span<const Index> positions, const float* src, Index width, float* acc) {
  Index c = 0;
  for (; c + 16 <= width; c += 16) add_rows_block<16>(positions, src + c, width, acc + c);
  if (c + 8 <= width) add_rows_block<8>(positions, src + c, width, acc + c), c += 8;
  if (c + 4 <= width) add_rows_block<4>(positions, src + c, width, acc + c), c += 4;
  for (; c < width; ++c) add_rows_block<1>(positions, src + c, width, acc + c);
}

class RowGroups {
 public:
  /// rows_of_position[p] = storage row read by lookup position p (all >= 0).
  void build(std::span<const Index> rows_of_position) {
    const Index n = static_cast<Index>(rows_of_position.size());
    assign_unique_slots(rows_of_position);
    const Index unique = static_cast<Index>(rows_.size());
    offsets_.assign(static_cast<std::size_t>(unique + 1), 0);
    for (Index p = 0; p < n; ++p) ++offsets_[slot_of_position_[p] + 1];
    for (Index u = 0; u < unique; ++u) offsets_[u + 1] += offsets_[u];
    positions_.resize(static_cast<std::size_t>(n));
    cursor_.assign(offsets_.begin(), offsets_.end() - 1);
    for (Index p = 0; p < n; ++p) positions_[cursor_[slot_of_position_[p]]++] = p;
  }

  /// Unique storage rows, in order of first occurrence.
  const std::vector<Index>& rows() const { return rows_; }
  Index unique_count() const { return static_cast<Index>(rows_.size()); }
  /// The lookup positions that read unique row u, ascending.
  std::span<const Index> positions(Index u) const {
    return {positions_.data() + offsets_[u], static_cast<std::size_t>(offsets_[u + 1] - offsets_[u])};
  }
  /// Unique-row slot of lookup position p.
  Index slot_of(Index position) const { return slot_of_position_[position]; }

  /// values[u * width ...] += add(position, acc) over the positions of unique row u, where
  /// add(p, float* acc) adds position p's contribution (width floats) into acc.
  /// Each unique row is summed by one thread in ascending position order (the result does not
  /// depend on the thread count).
  template <class Add>
  void reduce(Index width, float* values, Add&& add) const {
    for_each_unique_row([&](Index u) {
      float* acc = values + u * width;
      for (Index p : positions(u)) add(p, acc);
    });
  }

  /// values[u * width ...] += the sum of rows src[p * width ...] over the positions p of unique
  /// row u: reduce() for the common contribution "row p of a [positions x width] matrix" (the
  /// gradient of a gather), with the sums held in registers (add_rows_at). Same order of
  /// additions, so the same result as reduce() with that contribution.
  void sum_rows(Index width, const float* src, float* values) const {
    for_each_unique_row([&](Index u) { add_rows_at(positions(u), src, width, values + u * width); });
  }

 private:
  /// fn(u) for every unique row u; threads take contiguous runs of rows holding about equal
  /// numbers of positions, since a few rows (small fields) can hold most of them.
  template <class Fn>
  void for_each_unique_row(Fn&& fn) const {
    const Index unique = unique_count();
    const Index total = unique > 0 ? offsets_[unique] : 0;
#pragma omp parallel if (unique > 512)
    {
      const ThreadShare share = ThreadShare::current();
      // Rows whose first position slot lies in this thread's share [lo, hi) of the positions.
      const auto first_at_or_after = [&](Index position) {
        return static_cast<Index>(
            std::lower_bound(offsets_.begin(), offsets_.begin() + unique, position) -
            offsets_.begin());
      };
      const Index begin = first_at_or_after(share.begin_of(total));
      const Index end = share.last() ? unique : first_at_or_after(share.end_of(total));
      for (Index u = begin; u < end; ++u) fn(u);
    }
  }

  /// Open addressing keyed by row: slot_of_position_[p] = index of its row in rows_. The table
  /// holds only 32-bit slots (the key of slot s is rows_[s]), so it is a quarter of the size of
  /// a (key, slot) table and stays in cache longer; buckets are prefetched a few positions ahead.
  void assign_unique_slots(std::span<const Index> rows_of_position) {
    const std::size_t n = rows_of_position.size();
    if (n >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      throw std::length_error("RowGroups: a batch of 2^31 or more lookup positions");
    }
    const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(2 * n, 16));
    const std::size_t mask = capacity - 1;
    table_.assign(capacity, -1);
    rows_.clear();
    slot_of_position_.resize(n);
    const auto bucket = [&](std::size_t p) {
      return static_cast<std::size_t>(mix64(static_cast<std::uint64_t>(rows_of_position[p]))) &
             mask;
    };
    constexpr std::size_t kAhead = 8;  // a power of two (ring of buckets)
    std::size_t ring[kAhead];
    for (std::size_t p = 0; p < std::min(n, kAhead); ++p) {
      ring[p] = bucket(p);
      __builtin_prefetch(table_.data() + ring[p]);
    }
    for (std::size_t p = 0; p < n; ++p) {
      const Index row = rows_of_position[p];
      std::size_t h = ring[p & (kAhead - 1)];
      if (p + kAhead < n) {
        const std::size_t ahead = bucket(p + kAhead);
        ring[p & (kAhead - 1)] = ahead;
        __builtin_prefetch(table_.data() + ahead);
      }
      std::int32_t slot = table_[h];
      while (slot >= 0 && rows_[static_cast<std::size_t>(slot)] != row) {
        h = (h + 1) & mask;
        slot = table_[h];
      }
      if (slot < 0) {
        slot = static_cast<std::int32_t>(rows_.size());
        table_[h] = slot;
        rows_.push_back(row);
      }
      slot_of_position_[p] = slot;
    }
  }

  std::vector<Index> rows_;
  std::vector<Index> slot_of_position_;
  std::vector<Index> offsets_;
  std::vector<Index> positions_;
  std::vector<Index> cursor_;
  std::vector<std::int32_t> table_;  // open-addressing buckets: a slot of rows_, or -1
};

}  // namespace embcomp::kernels
