// Gradients of a table's own parameters, as produced by EmbeddingTable::backward.
#pragma once

#include <vector>

#include "embcomp/core/parameter.hpp"

namespace embcomp {

/// Gradient of a row-indexed parameter: `rows` are unique (no row twice) and `values` is
/// [rows.size() x param->width()], the sum of every contribution to that row in the batch.
struct SparseGrad {
  Parameter* param = nullptr;
  std::vector<Index> rows;
  std::vector<float> values;

  Index count() const { return static_cast<Index>(rows.size()); }
  float* row(Index i) { return values.data() + i * param->width(); }
  const float* row(Index i) const { return values.data() + i * param->width(); }
};

/// Gradient of a dense parameter: `values` is [param->rows() x param->width()].
struct DenseGrad {
  Parameter* param = nullptr;
  std::vector<float> values;
};

/// All gradients of one backward pass. Entries are kept across clear() so that their buffers
/// are reused from batch to batch; an entry with no rows is simply empty this step.
struct Gradients {
  std::vector<SparseGrad> sparse;
  std::vector<DenseGrad> dense;

  /// The sparse entry of `param`, created on first use, emptied (capacity kept).
  SparseGrad& sparse_for(Parameter& param, Index unique_rows) {
    SparseGrad& g = find_or_add(sparse, param);
    g.rows.resize(static_cast<std::size_t>(unique_rows));
    g.values.assign(static_cast<std::size_t>(unique_rows * param.width()), 0.0f);
    return g;
  }
  /// The dense entry of `param`, zero-filled.
  DenseGrad& dense_for(Parameter& param) {
    DenseGrad& g = find_or_add(dense, param);
    g.values.assign(param.size(), 0.0f);
    return g;
  }
  void clear() {
    for (auto& g : sparse) g.rows.clear(), g.values.clear();
    for (auto& g : dense) g.values.clear();
  }

 private:
  template <class Grad>
  static Grad& find_or_add(std::vector<Grad>& list, Parameter& param) {
    for (auto& g : list) {
      if (g.param == &param) return g;
    }
    Grad& added = list.emplace_back();
    added.param = &param;
    return added;
  }
};

}  // namespace embcomp
