// hash: the hashing trick (spec methods-inter.md §1). Ids hash into fewer rows than there are
// ids; colliding ids share a row outright.
//
// tables=shared (default, the reference's single table): every field hashes its global id
//   (field offset + local id) into one table of M = floor(budget / (d * 4)) rows, M <= N.
// tables=per_field: field f gets M_f rows, the budget split in proportion to n_f with at least
//   one row per field, the sum within the budget (core/budget.hpp apportion_rows); a field with
//   n_f <= threshold keeps a full table (never hashed).
// hash=modulo (default; the reference's) is the global id mod M; hash=xxhash uses XXH64 with
//   the table seed. Ids are dense per field, so modulo spreads each field's contiguous global
//   ids evenly over the rows (a field of n_f <= M ids never collides with itself), and on
//   frequency-ranked ids (the vocabulary's order) the M most frequent ids of a field land in
//   distinct rows; xxhash's buckets are random, some rows crowded and some empty. modulo was
//   ahead or tied on validation AUC on ranked and on hashed, drifting ids (README, "hash and
//   CAFE on evidence"); xxhash remains for ids with arithmetic structure that could align with M.
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/row_map.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// Option `name` (modulo | xxhash) of a hashing method: the bucket function.
inline kernels::HashKind pick_bucket_hash(const Options& options, std::string_view name = "hash") {
  return options.pick<kernels::HashKind>(
      name, {{"modulo", kernels::HashKind::modulo}, {"xxhash", kernels::HashKind::xxhash}});
}

class HashTable : public GatherTable<HashTable> {
 public:
  static constexpr const char* kKey = "hash";
  static constexpr const char* kSummary = "hashing trick: ids hashed into a smaller table";
  static std::vector<OptionInfo> option_info() {
    return {{"hash", "modulo", "bucket function: modulo (the reference's global id mod M) | xxhash"},
            {"tables", "shared", "shared (one table for all fields) | per_field"},
            {"threshold", "0", "per_field: fields with n_f <= threshold keep a full table"}};
  }

  HashTable(const TableArgs& args, const Options& options)
      : GatherTable(args),
        kind_(pick_bucket_hash(options)),
        fields_(plan_fields(options)),
        table_(add_parameter("rows", total_rows(), args.schema.dim, ParamKind::rows)) {
    set_rows_parameter(table_);
    table_.fill_uniform(default_init_bound(args.schema), args.seed);
  }

  /// Rows of the hashed storage.
  Index rows() const { return table_.rows(); }

 private:
  using FieldPlan = kernels::FieldRows;

  std::vector<FieldPlan> plan_fields(const Options& options) const {
    const Schema& s = schema();
    const double row_bytes = static_cast<double>(s.dim) * sizeof(float);
    const auto budget_rows = static_cast<Index>(std::floor(budget().bytes(s) / row_bytes));
    if (options.pick<bool>("tables", {{"shared", true}, {"per_field", false}})) {
      options.not_applicable("threshold", "tables=shared (one table over every field)");
      return plan_shared(budget_rows);
    }
    return plan_per_field(budget_rows, options.integer("threshold"));
  }

  std::vector<FieldPlan> plan_shared(Index budget_rows) const {
    const Schema& s = schema();
    require_rows(1);
    const Index m = std::min(budget_rows, s.total_rows());
    std::vector<FieldPlan> plan;
    for (Index f = 0; f < s.num_fields(); ++f) {
      plan.push_back({0, m, s.field_offset(f), seed(), kind_, true, {}});
    }
    return plan;
  }

  std::vector<FieldPlan> plan_per_field(Index budget_rows, long long threshold) const {
    const Schema& s = schema();
    Index kept_rows = 0, hashed_fields = 0;
    for (Index n : s.cardinalities) {
      if (n <= threshold) kept_rows += n;
      else ++hashed_fields;
    }
    require_rows(kept_rows + hashed_fields);
    std::vector<Index> hashed_sizes;
    for (Index n : s.cardinalities) {
      if (n > threshold) hashed_sizes.push_back(n);
    }
    const std::vector<Index> hashed_rows = apportion_rows(hashed_sizes, budget_rows - kept_rows);
    std::vector<FieldPlan> plan;
    Index base = 0;
    std::size_t next_hashed = 0;
    for (Index f = 0; f < s.num_fields(); ++f) {
      const Index n = s.cardinalities[f];
      const bool keep = n <= threshold;
      const Index m = keep ? n : hashed_rows[next_hashed++];
      const std::uint64_t field_seed = kernels::combine(seed(), static_cast<std::uint64_t>(f));
      plan.push_back({base, m, 0, field_seed, kind_, !keep, {}});
      base += m;
    }
    return plan;
  }

  /// Throws InfeasibleBudget unless `min_rows` rows of d floats fit the budget.
  void require_rows(Index min_rows) const {
    require_budget(kKey, static_cast<double>(min_rows) * static_cast<double>(schema().dim) * 4.0,
                   args());
  }

  Index total_rows() const {
    Index rows = 0;
    for (const auto& f : fields_) rows = std::max(rows, f.base + f.rows);
    return rows;
  }


 public:
  Index row_of(const IdBatch& ids, Index p) const { return row_of(ids, p, ids.field_of(p)); }
  /// The same, given field = ids.field_of(p) (GatherTable walks positions with their fields).
  Index row_of(const IdBatch& ids, Index p, Index field) const {
    return kernels::field_row(fields_[field], ids[p]);
  }
  /// Where each field's ids go (the CUDA backend mirrors the table from it).
  const std::vector<kernels::FieldRows>& field_rows() const { return fields_; }

 private:
  kernels::HashKind kind_;
  std::vector<FieldPlan> fields_;
  Parameter& table_;
};

}  // namespace embcomp
