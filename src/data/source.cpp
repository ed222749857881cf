#include "embcomp/data/source.hpp"

#include <algorithm>

namespace embcomp {

namespace {
void check_selection(const RowSelection& selection, Index rows, const char* name) {
  const bool inside =
      selection.listed
          ? std::all_of(selection.rows.begin(), selection.rows.end(),
                        [rows](Index r) { return r >= 0 && r < rows; })
          : selection.range.begin >= 0 && selection.range.begin <= selection.range.end &&
                selection.range.end <= rows;
  if (!inside) {
    throw InvalidArgument(std::string("dataset: the ") + name + " split reaches outside the " +
                          std::to_string(rows) + " rows of the cache");
  }
}
}  // namespace

CachedDataset::CachedDataset(std::string directory, Split split)
    : cache_(std::move(directory)), split_(std::move(split)) {
  const auto rows = static_cast<Index>(cache_.rows());
  check_selection(split_.train, rows, "train");
  check_selection(split_.validation, rows, "validation");
  check_selection(split_.test, rows, "test");
}

void CachedDataset::read(SplitPart part, Index first, Index count, Batch& out) const {
  const RowSelection& selection = split_[part];
  if (first < 0 || first > selection.size() || count < 0) {
    throw InvalidArgument("dataset: sample " + std::to_string(first) + " is outside the part of " +
                          std::to_string(selection.size()) + " samples");
  }
  count = std::min(count, selection.size() - first);
  if (selection.listed) {
    cache_.read_rows({selection.rows.data() + first, static_cast<std::size_t>(count)}, out);
  } else {
    cache_.read_range(static_cast<std::uint64_t>(selection.range.begin + first), count, out);
  }
}

Split split_by_files(const CacheMeta& meta) {
  std::vector<Index> rows;
  for (const CachePart& part : meta.parts) rows.push_back(static_cast<Index>(part.rows));
  return split_by_parts(rows);
}

std::vector<std::vector<std::uint64_t>> count_ids(const BatchSource& source, SplitPart part,
                                                  Index batch_rows) {
  if (batch_rows < 1) throw InvalidArgument("count_ids: batch_rows must be >= 1");
  std::vector<std::vector<std::uint64_t>> counts;
  for (Index n : source.cardinalities()) counts.emplace_back(static_cast<std::size_t>(n), 0);
  Batch batch;
  for (Index first = 0; first < source.rows(part); first += batch_rows) {
    source.read(part, first, batch_rows, batch);
    for (Index r = 0; r < batch.size; ++r) {
      for (Index f = 0; f < batch.num_fields; ++f) {
        ++counts[static_cast<std::size_t>(f)][static_cast<std::size_t>(batch.ids[static_cast<std::size_t>(r * batch.num_fields + f)])];
      }
    }
  }
  return counts;
}

}  // namespace embcomp
