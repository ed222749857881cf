// Adam, lazy for sparse rows: m and v of a row change only when the row has a gradient, while
// the bias correction uses the global step t (one count for all rows), as the reference does.
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// State per row: [m (width), v (width)]. The rule: kernels/optim_rules.hpp.
#pragma once

#include "embcomp/kernels/optim_rules.hpp"
#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

using AdamRule = kernels::AdamRule;

extern template class RowwiseOptimizer<AdamRule>;  // instantiated in src/optim/optimizers.cpp

class Adam : public RowwiseOptimizer<AdamRule> {
 public:
  explicit Adam(float learning_rate, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f)
      : RowwiseOptimizer(learning_rate, AdamRule{beta1, beta2, eps}) {}
  std::string name() const override { return "adam"; }
};

}  // namespace embcomp
