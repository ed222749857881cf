// Train / validation / test splits as row selections over a cache (or any row-indexed data):
// a contiguous range, or an explicit list of row numbers (e.g. a permuted training set).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

/// Rows [begin, end).
struct RowRange {
  Index begin = 0;
  Index end = 0;
  Index size() const { return end - begin; }
  bool operator==(const RowRange&) const = default;
};

/// The rows of one split part: `rows` when listed, else `range`.
struct RowSelection {
  RowRange range;
  std::vector<Index> rows;
  bool listed = false;

  Index size() const { return listed ? static_cast<Index>(rows.size()) : range.size(); }
  /// The data row of the i-th sample of this selection.
  Index row(Index i) const { return listed ? rows[static_cast<std::size_t>(i)] : range.begin + i; }

  static RowSelection of_range(Index begin, Index end) { return {{begin, end}, {}, false}; }
  static RowSelection of_rows(std::vector<Index> list) { return {{}, std::move(list), true}; }
};

enum class SplitPart { train = 0, validation = 1, test = 2 };

struct Split {
  RowSelection train, validation, test;
  const RowSelection& operator[](SplitPart part) const;
};

/// `rows` cut into `parts` consecutive parts of sizes differing by at most one, the larger
/// ones first (numpy.array_split).
std::vector<RowRange> equal_parts(Index rows, Index parts);

/// The reference protocol (Criteo Kaggle): rows cut into `parts` (7) equal parts by row order;
/// parts 0..parts-2 are train, the last part is halved (array_split) into test, then
/// validation. With `shuffle_seed` != 0 the train rows are listed in a seeded permutation
/// (the reference permutes train once); 0 keeps them as a range.
Split reference_split(Index rows, Index parts = 7, std::uint64_t shuffle_seed = 0);

/// Avazu's protocol: the last `held_out` rows are halved into test, then validation; the rest
/// is train (permuted when shuffle_seed != 0).
Split tail_split(Index rows, Index held_out, std::uint64_t shuffle_seed = 0);

/// A seeded random split: every row goes to train, validation or test with the given
/// fractions (exact sizes floor(f * rows), test takes the rest); rows listed in random order.
Split random_split(Index rows, double train_fraction, double validation_fraction, std::uint64_t seed);

/// Separate files: three consecutive parts (e.g. the cache parts of train, validation and
/// test files) of the given row counts.
Split split_by_parts(std::span<const Index> part_rows);

/// A seeded permutation of [begin, end) (Fisher-Yates on counter-based randomness; identical
/// on every platform).
std::vector<Index> permuted_rows(Index begin, Index end, std::uint64_t seed);

}  // namespace embcomp
