#include "embcomp/data/split.hpp"

#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "embcomp/core/error.hpp"
#include "embcomp/kernels/hash.hpp"

namespace embcomp {

const RowSelection& Split::operator[](SplitPart part) const {
  switch (part) {
    case SplitPart::train: return train;
    case SplitPart::validation: return validation;
    case SplitPart::test: return test;
  }
  throw InvalidArgument("split: unknown part");
}

std::vector<RowRange> equal_parts(Index rows, Index parts) {
  if (rows < 0 || parts < 1) {
    throw InvalidArgument("split: cannot cut " + std::to_string(rows) + " rows into " +
                          std::to_string(parts) + " parts");
  }
  std::vector<RowRange> result;
  const Index base = rows / parts, larger = rows % parts;
  Index begin = 0;
  for (Index p = 0; p < parts; ++p) {
    const Index size = base + (p < larger ? 1 : 0);
    result.push_back({begin, begin + size});
    begin += size;
  }
  return result;
}

std::vector<Index> permuted_rows(Index begin, Index end, std::uint64_t seed) {
  std::vector<Index> rows(static_cast<std::size_t>(end - begin));
  std::iota(rows.begin(), rows.end(), begin);
  for (std::size_t i = rows.size(); i > 1; --i) {
    const std::uint64_t r = kernels::combine(seed, i);
    std::swap(rows[i - 1], rows[static_cast<std::size_t>(r % i)]);
  }
  return rows;
}

namespace {
RowSelection train_rows(Index begin, Index end, std::uint64_t shuffle_seed) {
  return shuffle_seed == 0 ? RowSelection::of_range(begin, end)
                           : RowSelection::of_rows(permuted_rows(begin, end, shuffle_seed));
}

/// Train [0, train_end) and the held-out rows [train_end, rows) halved: test first.
Split train_then_halves(Index train_end, Index rows, std::uint64_t shuffle_seed) {
  const std::vector<RowRange> halves = equal_parts(rows - train_end, 2);
  Split split;
  split.train = train_rows(0, train_end, shuffle_seed);
  split.test = RowSelection::of_range(train_end + halves[0].begin, train_end + halves[0].end);
  split.validation = RowSelection::of_range(train_end + halves[1].begin, train_end + halves[1].end);
  return split;
}
}  // namespace

Split reference_split(Index rows, Index parts, std::uint64_t shuffle_seed) {
  if (parts < 2) throw InvalidArgument("reference split: at least 2 parts are needed");
  const std::vector<RowRange> cut = equal_parts(rows, parts);
  return train_then_halves(cut.back().begin, rows, shuffle_seed);
}

Split tail_split(Index rows, Index held_out, std::uint64_t shuffle_seed) {
  if (held_out < 0 || held_out > rows) {
    throw InvalidArgument("tail split: " + std::to_string(held_out) + " held-out rows of " +
                          std::to_string(rows));
  }
  return train_then_halves(rows - held_out, rows, shuffle_seed);
}

Split random_split(Index rows, double train_fraction, double validation_fraction, std::uint64_t seed) {
  if (!(train_fraction >= 0.0 && validation_fraction >= 0.0 &&
        train_fraction + validation_fraction <= 1.0)) {
    throw InvalidArgument("random split: fractions " + std::to_string(train_fraction) + " and " +
                          std::to_string(validation_fraction) +
                          " must be >= 0 and sum to at most 1");
  }
  const std::vector<Index> order = permuted_rows(0, rows, seed);
  const auto n_train = static_cast<Index>(std::floor(train_fraction * static_cast<double>(rows)));
  const auto n_validation = static_cast<Index>(std::floor(validation_fraction * static_cast<double>(rows)));
  auto slice = [&](Index from, Index to) {
    return RowSelection::of_rows({order.begin() + from, order.begin() + to});
  };
  return {slice(0, n_train), slice(n_train, n_train + n_validation), slice(n_train + n_validation, rows)};
}

Split split_by_parts(std::span<const Index> part_rows) {
  if (part_rows.size() != 3) {
    throw InvalidArgument("split by parts: expected 3 parts (train, validation, test), got " +
                          std::to_string(part_rows.size()));
  }
  Index total = 0;
  for (const Index n : part_rows) {
    if (n < 0 || n > std::numeric_limits<Index>::max() - total) {
      throw InvalidArgument("split by parts: part sizes must be >= 0 and sum to at most 2^63 - 1, "
                            "got " + std::to_string(n) + " after " + std::to_string(total) + " rows");
    }
    total += n;
  }
  const Index a = part_rows[0], b = a + part_rows[1], c = b + part_rows[2];
  return {RowSelection::of_range(0, a), RowSelection::of_range(a, b), RowSelection::of_range(b, c)};
}

}  // namespace embcomp
