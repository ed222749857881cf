// RowGroups: the backward half of a gather. Given the storage row each lookup position read,
// it finds the unique rows (first-occurrence order) and, for each, the positions that read it
// (CSR, positions ascending). reduce() then sums per-position contributions into one gradient
// row per unique row, in parallel over rows and in a fixed order, so results are deterministic.
#pragma once

#include <algorithm>
#include <bit>
#include <span>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/hash.hpp"

namespace embcomp::kernels {

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
  template <class Add>
  void reduce(Index width, float* values, Add&& add) const {
    const Index unique = unique_count();
#pragma omp parallel for schedule(static) if (unique > 512)
    for (Index u = 0; u < unique; ++u) {
      float* acc = values + u * width;
      for (Index p : positions(u)) add(p, acc);
    }
  }

 private:
  /// Open addressing keyed by row: slot_of_position_[p] = index of its row in rows_.
  void assign_unique_slots(std::span<const Index> rows_of_position) {
    const std::size_t n = rows_of_position.size();
    const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(2 * n, 16));
    const std::size_t mask = capacity - 1;
    table_keys_.assign(capacity, -1);
    table_slots_.resize(capacity);
    rows_.clear();
    slot_of_position_.resize(n);
    for (std::size_t p = 0; p < n; ++p) {
      const Index row = rows_of_position[p];
      std::size_t h = mix64(static_cast<std::uint64_t>(row)) & mask;
      while (table_keys_[h] != -1 && table_keys_[h] != row) h = (h + 1) & mask;
      if (table_keys_[h] == -1) {
        table_keys_[h] = row;
        table_slots_[h] = static_cast<Index>(rows_.size());
        rows_.push_back(row);
      }
      slot_of_position_[p] = table_slots_[h];
    }
  }

  std::vector<Index> rows_;
  std::vector<Index> slot_of_position_;
  std::vector<Index> offsets_;
  std::vector<Index> positions_;
  std::vector<Index> cursor_;
  std::vector<Index> table_keys_;
  std::vector<Index> table_slots_;
};

}  // namespace embcomp::kernels
