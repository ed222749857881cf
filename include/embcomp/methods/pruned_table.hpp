// The part shared by methods that prune a full table entry by entry and retrain under a mask
// (pep, autosrh): every field's rows stacked as in `full` ("rows" [N x d] fp32), the nonzeros
// the budget buys as sparse rows, a keep mask of one bit per entry ("mask", training-only),
// the masked gather and its gradient, and the sparse serving form built by finalize.
//
//   masked lookup     out[p][c] = mask(r, c) ? rows[r][c] : 0,      r = offset_f + id
//   masked gradient   d rows[r][c] = mask(r, c) * sum of dE[p][c] over the positions reading r
//   finalize          sparse rows of what the method serves (served_values(), N x d)
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/magnitude.hpp"
#include "embcomp/serving/sparse_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class PrunedTable : public EmbeddingTable {
 public:
  static constexpr const char* kServingForm = SparseServingTable::kKey;
  static constexpr bool kStateHoldsFullTable = true;  // checked by load_table

  /// The keep mask, one bit per entry of "rows" (bit i of word i / 64 for entry i = r d + c);
  /// empty before there is one.
  const std::vector<std::uint64_t>& mask_words() const { return mask_.values; }

  /// Nonzeros the budget buys, and the target sparsity P = 1 - nnz / (N d).
  Index target_nonzeros() const { return nonzeros_; }
  double target_sparsity() const { return 1.0 - static_cast<double>(nonzeros_) / elements(); }
  /// Entries the mask keeps (0 before there is a mask).
  Index mask_nonzeros() const {
    Index n = 0;
    for (std::uint64_t word : mask_.values) n += std::popcount(word);
    return n;
  }

  /// The sparse serving form: the finalize()d rows, or what finalize would serve now.
  std::unique_ptr<EmbeddingTable> freeze() const override {
    SparseRows rows = finalized() ? sparse_ : served_rows();
    return std::make_unique<SparseServingTable>(args(), std::move(rows), key_);
  }

 protected:
  /// Registers "rows" [N x d] (initialised Uniform(+-default_init_bound) from the seed), "mask"
  /// and "sparse"; throws InfeasibleBudget naming `key` when not one nonzero fits.
  PrunedTable(const TableArgs& args, const char* key)
      : EmbeddingTable(args),
        key_(key),
        nonzeros_(sparse_nonzeros_for_budget(key, args)),
        rows_(add_parameter("rows", args.schema.total_rows(), args.schema.dim, ParamKind::rows)),
        mask_(add_index<std::uint64_t>("mask", /*served=*/false)),
        offsets_(args.schema.field_offsets()) {
    add_index_state("sparse", sparse_);
    rewind_rows(args.seed);
  }

  /// What the method serves now, [N x d], before any cut to the budget.
  virtual std::vector<float> served_values() const = 0;

  Parameter& rows() { return rows_; }
  const Parameter& rows() const { return rows_; }
  double elements() const {
    return static_cast<double>(schema().total_rows()) * static_cast<double>(dim());
  }
  Index row_of(const IdBatch& ids, Index p) const { return offsets_[ids.field_of(p)] + ids[p]; }

  /// Re-initialises the rows as the constructor did with `seed`.
  void rewind_rows(std::uint64_t seed) { rows_.fill_uniform(default_init_bound(schema()), seed); }

  bool masked() const { return !mask_.values.empty(); }
  bool kept(Index entry) const {
    return (mask_[static_cast<std::size_t>(entry >> 6)] >> (entry & 63)) & 1u;
  }
  /// The mask keeps the target_nonzeros() largest |values| ([N x d]; fewer where fewer are
  /// nonzero).
  void keep_largest(std::vector<float> values) {
    cut_to_budget(values);
    mask_.values.assign((values.size() + 63) / 64, 0);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] != 0.0f) mask_.values[i >> 6] |= std::uint64_t{1} << (i & 63);
    }
  }
  /// Zeroes all but the target_nonzeros() largest |values| ([N x d]).
  void cut_to_budget(std::vector<float>& values) const {
    const auto n = static_cast<Index>(values.size());
    kernels::prune_smallest(values.data(), n, n - nonzeros_);
  }
  /// values * mask, [N x d].
  std::vector<float> masked_values(const float* values) const {
    const auto n = static_cast<Index>(rows_.size());
    std::vector<float> out(values, values + n);
    for (Index i = 0; i < n; ++i) {
      if (!kept(i)) out[static_cast<std::size_t>(i)] = 0.0f;
    }
    return out;
  }
  /// Throws CheckpointError unless the loaded mask is empty or covers every entry.
  void check_loaded_mask() const {
    const auto words = static_cast<std::size_t>((rows_.size() + 63) / 64);
    if (!mask_.values.empty() && mask_.size() != words) {
      throw CheckpointError("checkpoint damaged: " + std::string(key_) + " mask of " +
                            std::to_string(mask_.size()) + " words, the table needs " +
                            std::to_string(words));
    }
  }

  /// Lookup once finalized (the sparse rows) or under the mask; false otherwise (the method's
  /// own training form then looks up).
  bool lookup_served(const IdBatch& ids, Matrix out) const {
    if (!finalized() && !masked()) return false;
    const Index count = ids.size();
    const Index d = dim();
    if (finalized()) {
#pragma omp parallel for schedule(static) if (count > 1024)
      for (Index p = 0; p < count; ++p) sparse_.read_row(row_of(ids, p), out.row(p));
      return true;
    }
#pragma omp parallel for schedule(static) if (count > 1024)
    for (Index p = 0; p < count; ++p) {
      const Index r = row_of(ids, p);
      const float* w = rows_.row(r);
      float* o = out.row(p);
      for (Index c = 0; c < d; ++c) o[c] = kept(r * d + c) ? w[c] : 0.0f;
    }
    return true;
  }

  /// The sparse gradient of "rows" with G[u] = the sum of dE over the positions reading unique
  /// row u; reserves room for `more` further sparse gradients, so the reference stays valid
  /// while the method adds them.
  SparseGrad& summed_row_gradient(const IdBatch& ids, ConstMatrix dE, Gradients& grads,
                                  std::size_t more = 0) {
    const Index count = ids.size();
    positions_rows_.resize(static_cast<std::size_t>(count));
    for (Index p = 0; p < count; ++p) positions_rows_[static_cast<std::size_t>(p)] = row_of(ids, p);
    grads.sparse.reserve(grads.sparse.size() + 1 + more);
    SparseGrad& g = grouped_sparse_grad(rows_, positions_rows_, groups_, grads);
    groups_.sum_rows(dim(), dE.data, g.values.data());
    return g;
  }
  /// The masked gradient: g's entries outside the mask set to 0.
  void mask_gradient(SparseGrad& g) const {
    const Index unique = g.count();
    const Index d = dim();
#pragma omp parallel for schedule(static) if (unique > 1024)
    for (Index u = 0; u < unique; ++u) {
      for (Index c = 0; c < d; ++c) {
        if (!kept(g.rows[u] * d + c)) g.row(u)[c] = 0.0f;
      }
    }
  }

  /// finalize: the sparse rows of what the method serves; the dense rows become training-only.
  void on_finalize() override {
    sparse_ = served_rows();
    rows_.set_role(ParamRole::training_only);
  }
  /// After a load: the roles follow the finalized flag; the mask is checked.
  void restore_roles() {
    check_loaded_mask();
    rows_.set_role(finalized() ? ParamRole::training_only : ParamRole::trained);
  }

 private:
  /// Under a mask: rows * mask; before one: served_values() cut to the budget.
  SparseRows served_rows() const {
    std::vector<float> values = masked() ? masked_values(rows_.data()) : served_values();
    if (!masked()) cut_to_budget(values);
    return SparseRows::from_dense(values.data(), schema().total_rows(), dim());
  }

  const char* key_;
  Index nonzeros_;
  Parameter& rows_;
  IndexArray<std::uint64_t>& mask_;  ///< [ceil(N d / 64)] bits once there is a mask, else empty
  SparseRows sparse_;                ///< empty until finalize
  std::vector<Index> offsets_;       ///< field f's first row
  std::vector<Index> positions_rows_;  // backward scratch: row read by each position
  kernels::RowGroups groups_;
};

}  // namespace embcomp
