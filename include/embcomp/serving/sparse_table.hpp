// The serving form of pruned tables: every field's rows stacked (field f's id x at row
// offset_f + x, as in `full`) and stored as SparseRows. Built by a pruning method's freeze();
// a frozen checkpoint of it loads as this form directly, never as the trainable table.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/kernels/parallel.hpp"
#include "embcomp/serving/sparse_rows.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// The nonzeros a pruning method's budget buys as sparse rows of the schema's [N x d] table
/// (the smaller of CSR and COO), at most N d; throws InfeasibleBudget naming `method` when not
/// even one fits.
inline Index sparse_nonzeros_for_budget(const char* method, const TableArgs& args) {
  const Index rows = args.schema.total_rows();
  const Index nnz = SparseRows::max_nonzeros(rows, args.budget.bytes(args.schema));
  if (nnz < 1) throw_infeasible(method, SparseRows::bytes_for(SparseLayout::coo, rows, 1), args);
  return std::min<Index>(nnz, rows * args.schema.dim);
}

class SparseServingTable final : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "sparse";
  static constexpr const char* kSummary = "serving form of a pruned table (CSR or COO rows)";
  static std::vector<OptionInfo> option_info() {
    return {{"of", "", "the method whose serving form this is"}};
  }

  /// An empty form, filled by load_state (frozen checkpoints).
  SparseServingTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args) {
    options.text("of");  // a label of the spec: the form does not depend on the method it serves
    offsets_ = args.schema.field_offsets();
    add_index_state("sparse_rows", rows_);
    mark_frozen();
  }

  /// The form of `rows` ([N x d], N = the schema's total rows), serving method `of`.
  SparseServingTable(const TableArgs& args, SparseRows rows, const std::string& of)
      : SparseServingTable(args, Options(kKey, option_info())) {
    if (rows.rows() != args.schema.total_rows() || rows.width() != args.schema.dim) {
      throw InvalidArgument("sparse serving form: rows are [" + std::to_string(rows.rows()) +
                            " x " + std::to_string(rows.width()) + "], the schema needs [" +
                            std::to_string(args.schema.total_rows()) + " x " +
                            std::to_string(args.schema.dim) + "]");
    }
    rows_ = std::move(rows);
    set_spec(std::string(kKey) + ":of=" + of);
  }

  const SparseRows& sparse_rows() const { return rows_; }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    const Index count = ids.size();
#pragma omp parallel if (count > 1024)
    {
      const kernels::ThreadShare share = kernels::ThreadShare::current();
      const Index begin = share.begin_of(count), end = share.end_of(count);
      for (Index p = begin; p < end; ++p) {
        rows_.read_row(offsets_[ids.field_of(p)] + ids[p], out.row(p));
      }
    }
  }
  void backward_impl(const IdBatch&, ConstMatrix, Gradients&) override {
    throw Error("backward on the sparse serving form ('" + spec() + "')");
  }
  void on_state_loaded() override {
    if (rows_.rows() != schema().total_rows() || rows_.width() != dim()) {
      throw CheckpointError("checkpoint damaged: sparse rows of another schema");
    }
  }

 private:
  std::vector<Index> offsets_;  ///< field f's first row
  SparseRows rows_;
};

}  // namespace embcomp
