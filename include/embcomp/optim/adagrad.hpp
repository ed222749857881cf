// Adagrad: a += g^2; w -= lr * g / (sqrt(a) + eps). State per element: a (starts at 0). The
// rule: kernels/optim_rules.hpp.
#pragma once

#include "embcomp/kernels/optim_rules.hpp"
#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

using AdagradRule = kernels::AdagradRule;

extern template class RowwiseOptimizer<AdagradRule>;  // instantiated in src/optim/optimizers.cpp

class Adagrad : public RowwiseOptimizer<AdagradRule> {
 public:
  explicit Adagrad(float learning_rate, float eps = 1e-7f)
      : RowwiseOptimizer(learning_rate, AdagradRule{eps}) {}
  std::string name() const override { return "adagrad"; }
};

}  // namespace embcomp
