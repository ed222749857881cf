// Row-wise Adagrad, TorchRec's default embedding optimizer (FBGEMM's EXACT_ROWWISE_ADAGRAD):
// a += mean(g^2) over the row; w -= lr * g / (sqrt(a) + eps). State per embedding row: a
// (starts at 0), so a table's state is rows floats where Adagrad's is rows x width. Dense
// parameters (ParamKind::dense: the model's layers, a method's networks) take element-wise
// Adagrad with the same eps, as TorchRec pairs the fused row-wise embedding optimizer with
// Adagrad for the dense model. The rule: kernels/optim_rules.hpp.
#pragma once

#include "embcomp/kernels/optim_rules.hpp"
#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

using RowwiseAdagradRule = kernels::RowwiseAdagradRule;

extern template class RowwiseOptimizer<RowwiseAdagradRule>;  // instantiated in src/optim/optimizers.cpp

class RowwiseAdagrad : public RowwiseOptimizer<RowwiseAdagradRule> {
 public:
  explicit RowwiseAdagrad(float learning_rate, float eps = 1e-8f)
      : RowwiseOptimizer(learning_rate, RowwiseAdagradRule{eps}) {}
  std::string name() const override { return "rowwise_adagrad"; }
};

}  // namespace embcomp
