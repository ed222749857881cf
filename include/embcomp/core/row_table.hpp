// Lookup and backward of a gather from a row-indexed Parameter, shared by every method whose
// embedding (or a part of it) is one stored row: out[p] = W[row_of(p)].
#pragma once

#include <span>
#include <vector>

#include "embcomp/core/gradients.hpp"
#include "embcomp/kernels/gather.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// out[p] = decode(W[row(p)]) for p in [0, count); out is [count x W.width()]. The rows come
/// from `rows_from` as in kernels::gather_rows_from: each thread walks its contiguous range of
/// positions in order with next = rows_from(begin).
template <class RowsFrom>
void gather_param_rows_from(const Parameter& table, Index count, RowsFrom rows_from, float* out) {
  const Index width = table.width();
  if (table.is_fp32()) {
    kernels::gather_rows_from(table.data(), width, count, rows_from, out);
    return;
  }
#pragma omp parallel if (count > 1024)
  {
    const kernels::ThreadShare share = kernels::ThreadShare::current();
    const Index end = share.end_of(count);
    auto next = rows_from(share.begin_of(count));
    for (Index p = share.begin_of(count); p < end; ++p) table.read_row(next(), out + p * width);
  }
}

/// out[p] = decode(W[row_of(p)]) for p in [0, count); out is [count x W.width()].
template <class RowOf>
void gather_param_rows(const Parameter& table, Index count, RowOf row_of, float* out) {
  gather_param_rows_from(table, count, kernels::rows_by_position(row_of), out);
}

/// Groups `rows` (rows[p] = the row position p read) and returns the table's sparse gradient
/// with one zeroed entry per unique row, in the groups' order.
inline SparseGrad& grouped_sparse_grad(Parameter& table, std::span<const Index> rows,
                                       kernels::RowGroups& groups, Gradients& grads) {
  groups.build(rows);
  SparseGrad& g = grads.sparse_for(table, groups.unique_count());
  std::copy(groups.rows().begin(), groups.rows().end(), g.rows.begin());
  return g;
}

/// Backward of gather_param_rows with rows[p] = row_of(p): one sparse gradient row per unique
/// row, the sum of contribution(p, acc) over the positions that read it. `groups` is scratch
/// kept by the caller so that its buffers are reused across batches.
template <class Contribution>
void scatter_param_grad(Parameter& table, std::span<const Index> rows,
                        kernels::RowGroups& groups, Gradients& grads, Contribution contribution) {
  SparseGrad& g = grouped_sparse_grad(table, rows, groups, grads);
  groups.reduce(table.width(), g.values.data(), contribution);
}

/// The common case: the contribution of position p is dE row p (RowGroups::sum_rows).
inline void scatter_output_grad(Parameter& table, std::span<const Index> rows, ConstMatrix dE,
                                kernels::RowGroups& groups, Gradients& grads) {
  SparseGrad& g = grouped_sparse_grad(table, rows, groups, grads);
  groups.sum_rows(dE.cols, dE.data, g.values.data());
}

}  // namespace embcomp

namespace embcomp {

/// Base of methods whose embedding is exactly one stored row: out[p] = W[row_of(ids, p)].
/// Derived (CRTP) provides `Index row_of(const IdBatch&, Index p) const` and calls
/// set_rows_parameter() in its constructor; lookup and backward are written here once.
/// Derived may also provide `Index row_of(const IdBatch&, Index p, Index field) const`, given
/// field = ids.field_of(p): lookup and backward then walk positions with their fields and spare
/// the division per position (a large share of a lookup's time once rows come from cache).
template <class Derived>
class GatherTable : public EmbeddingTable {
 public:
  using EmbeddingTable::EmbeddingTable;

 protected:
  void set_rows_parameter(Parameter& table) { table_ = &table; }
  const Parameter& rows_parameter() const { return *table_; }

  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    gather_param_rows_from(*table_, ids.size(), rows_from(ids), out.data);
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    const Index count = ids.size();
    rows_.resize(static_cast<std::size_t>(count));
    Index* rows = rows_.data();
    const auto source = rows_from(ids);
#pragma omp parallel if (count > 4096)
    {
      const kernels::ThreadShare share = kernels::ThreadShare::current();
      const Index end = share.end_of(count);
      auto next = source(share.begin_of(count));
      for (Index p = share.begin_of(count); p < end; ++p) rows[p] = next();
    }
    scatter_output_grad(*table_, rows_, dE, groups_, grads);
  }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }

  /// The row source of ids (see gather_param_rows_from): from position begin on, in order.
  auto rows_from(const IdBatch& ids) const {
    return [this, &ids](Index begin) {
      if constexpr (requires(const Derived& d, Index i) { d.row_of(ids, i, i); }) {
        const Index fields = ids.fields;
        return [this, &ids, fields, p = begin, f = begin % fields]() mutable {
          const Index row = self().row_of(ids, p, f);
          ++p;
          if (++f == fields) f = 0;
          return row;
        };
      } else {
        return [this, &ids, p = begin]() mutable { return self().row_of(ids, p++); };
      }
    };
  }

  Parameter* table_ = nullptr;
  std::vector<Index> rows_;  // backward scratch: row read by each position
  kernels::RowGroups groups_;
};

}  // namespace embcomp
