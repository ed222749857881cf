// The block deduplication behind `dedup` (spec methods-inter.md §6), apart from the table that
// uses it: cut a [rows x width] table into blocks of `block_rows` consecutive rows (the last one
// zero-padded), find near-duplicate blocks with L2 LSH, and map every block to a kept one.
//
// Layout: block b holds rows [b r, (b + 1) r) as one vector of r x width floats, row-major.
// Algorithm (the reference's, in its order):
//   1. blocks in ascending order of the 75th percentile of their entries;
//   2. L2 LSH with `bands` bands of one hash: code_l(v) = ceil((v . a_l + b_l) / w), a_l ~ N(0, I),
//      b_l ~ U[0, w), w = bucket_width; projections drawn from the seed (counter-based);
//   3. for each block in order: the earlier blocks sharing more than lsh_threshold band codes
//      are candidates; sim(b, c) = the fraction of coordinates with |v_b - v_c| <= fp (padding
//      left out when either block is the last); the most similar candidate with sim >= sim
//      becomes b's target. The block is then inserted into the buckets (the last, padded block
//      never is). The search stops once `wanted` duplicates are found;
//   4. in the same order, a block that is no duplicate gets the next kept index, a duplicate
//      its target's (targets come earlier, so chains resolve).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp {

struct DedupConfig {
  Index block_rows = 10000;    ///< r: rows per block
  Index bands = 90;            ///< LSH bands (one hash each)
  float bucket_width = 0.09f;  ///< w
  Index lsh_threshold = 0;     ///< candidates share more than this many band codes
  float fp = 0.01f;            ///< coordinates closer than this count as equal
  float sim = 0.7f;            ///< the smallest fraction of equal coordinates for a duplicate
  std::uint64_t seed = 0;
};

struct DedupResult {
  std::vector<std::int32_t> remap;  ///< [blocks]: the kept block each block reads
  std::vector<Index> kept_from;     ///< [kept]: the block whose values a kept block takes
  Index duplicates = 0;
};

/// Blocks of `rows` rows: ceil(rows / r), without overflow for any r >= 1.
inline Index block_count(Index rows, Index block_rows) {
  return rows / block_rows + (rows % block_rows != 0 ? 1 : 0);
}

/// Deduplicates the blocks of table [rows x width] (see the file comment), stopping once
/// `wanted` duplicates are found.
inline DedupResult deduplicate_blocks(const float* table, Index rows, Index width,
                                      const DedupConfig& c, Index wanted) {
  const Index nb = block_count(rows, c.block_rows);
  const Index cap = c.block_rows * width;  // floats per block
  const Index filled_last = (rows - (nb - 1) * c.block_rows) * width;
  auto length = [&](Index b) { return b + 1 == nb ? filled_last : cap; };  // padding is zeros
  auto value = [&](Index b, Index i) { return i < length(b) ? table[b * cap + i] : 0.0f; };

  // 1. Order by the 75th percentile of each block's entries.
  std::vector<std::pair<float, Index>> by_percentile;
  std::vector<float> entries(static_cast<std::size_t>(cap));
  for (Index b = 0; b < nb; ++b) {
    for (Index i = 0; i < cap; ++i) entries[static_cast<std::size_t>(i)] = value(b, i);
    const auto q = static_cast<std::size_t>(std::floor(0.75 * static_cast<double>(cap - 1)));
    std::nth_element(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(q), entries.end());
    by_percentile.emplace_back(entries[q], b);
  }
  std::stable_sort(by_percentile.begin(), by_percentile.end());

  // 2. Band codes of every block: the projections, one band at a time.
  std::vector<std::vector<std::int64_t>> codes(static_cast<std::size_t>(nb),
                                               std::vector<std::int64_t>(static_cast<std::size_t>(c.bands)));
  std::vector<float> projection(static_cast<std::size_t>(cap));
  for (Index l = 0; l < c.bands; ++l) {
    const std::uint64_t stream = kernels::combine(c.seed, static_cast<std::uint64_t>(l));
    for (Index i = 0; i < cap; ++i) {
      projection[static_cast<std::size_t>(i)] = kernels::standard_normal(stream, static_cast<std::uint64_t>(i));
    }
    const float offset = kernels::uniform(stream ^ 0x0ff5e7ULL, 0, 0.0f, c.bucket_width);
#pragma omp parallel for schedule(static)
    for (Index b = 0; b < nb; ++b) {
      double dot = 0.0;
      for (Index i = 0; i < length(b); ++i) dot += static_cast<double>(table[b * cap + i]) * projection[static_cast<std::size_t>(i)];
      codes[static_cast<std::size_t>(b)][static_cast<std::size_t>(l)] =
          static_cast<std::int64_t>(std::ceil((dot + offset) / c.bucket_width));
    }
  }

  // 3. Greedy search in order.
  std::map<std::pair<Index, std::int64_t>, std::vector<Index>> buckets;
  std::vector<Index> target(static_cast<std::size_t>(nb), -1);
  Index found = 0;
  for (const auto& [percentile, b] : by_percentile) {
    if (found >= wanted) break;
    std::map<Index, Index> shared;  // candidate -> band codes in common
    for (Index l = 0; l < c.bands; ++l) {
      const auto it = buckets.find({l, codes[static_cast<std::size_t>(b)][static_cast<std::size_t>(l)]});
      if (it == buckets.end()) continue;
      for (Index candidate : it->second) ++shared[candidate];
    }
    double best = -1.0;
    for (const auto& [candidate, count] : shared) {
      if (count <= c.lsh_threshold) continue;
      const Index n = std::min(length(b), length(candidate));
      Index equal = 0;
      for (Index i = 0; i < n; ++i) equal += std::fabs(value(b, i) - value(candidate, i)) <= c.fp;
      const double s = static_cast<double>(equal) / static_cast<double>(n);
      if (s >= c.sim && s > best) {
        best = s;
        target[static_cast<std::size_t>(b)] = candidate;
      }
    }
    if (target[static_cast<std::size_t>(b)] >= 0) ++found;
    if (b + 1 == nb) continue;  // the padded block is never a target
    for (Index l = 0; l < c.bands; ++l) {
      buckets[{l, codes[static_cast<std::size_t>(b)][static_cast<std::size_t>(l)]}].push_back(b);
    }
  }

  // 4. Kept indices in the same order; a duplicate reads its target's.
  DedupResult result;
  result.remap.assign(static_cast<std::size_t>(nb), -1);
  for (const auto& [percentile, b] : by_percentile) {
    const Index t = target[static_cast<std::size_t>(b)];
    if (t >= 0) {
      result.remap[static_cast<std::size_t>(b)] = result.remap[static_cast<std::size_t>(t)];
      ++result.duplicates;
    } else {
      result.remap[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(result.kept_from.size());
      result.kept_from.push_back(b);
    }
  }
  return result;
}

}  // namespace embcomp
