// BatchSource: what a trainer reads batches from, the same for a data cache with a split and
// for the synthetic generator.
#pragma once

#include <string>

#include "embcomp/core/schema.hpp"
#include "embcomp/data/batch.hpp"
#include "embcomp/data/cache.hpp"
#include "embcomp/data/split.hpp"

namespace embcomp {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  /// Per-field cardinalities (the ids of field f are in [0, cardinalities[f])).
  virtual std::vector<Index> cardinalities() const = 0;
  virtual Index num_dense() const = 0;
  /// Samples in a split part.
  virtual Index rows(SplitPart part) const = 0;
  /// Samples [first, first + count) of `part` into `out`; count is clipped at the part's end.
  virtual void read(SplitPart part, Index first, Index count, Batch& out) const = 0;

  Schema schema(Index dim = 16) const { return Schema{cardinalities(), dim}; }
};

/// A data cache served through a split (row ranges or row lists of the cache).
class CachedDataset : public BatchSource {
 public:
  CachedDataset(std::string directory, Split split);

  std::vector<Index> cardinalities() const override { return cache_.meta().cardinalities(); }
  Index num_dense() const override { return cache_.meta().num_dense; }
  Index rows(SplitPart part) const override { return split_[part].size(); }
  void read(SplitPart part, Index first, Index count, Batch& out) const override;

  const CacheReader& cache() const { return cache_; }
  const Split& split() const { return split_; }

 private:
  CacheReader cache_;
  Split split_;
};

/// The split of a cache prepared from three files, in the order train, validation, test.
/// Throws InvalidArgument unless the cache has exactly three parts.
Split split_by_files(const CacheMeta& meta);

/// Occurrences of every id of every field in one split part: [field][id]. The reference
/// computes frequency-based choices on the training split only; the counts stored in a cache
/// cover all of its rows.
std::vector<std::vector<std::uint64_t>> count_ids(const BatchSource& source, SplitPart part,
                                                  Index batch_rows = 65536);

}  // namespace embcomp
