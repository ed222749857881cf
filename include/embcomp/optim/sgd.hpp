// Plain SGD: w -= lr * g (the rule: kernels/optim_rules.hpp).
#pragma once

#include "embcomp/kernels/optim_rules.hpp"
#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

using SgdRule = kernels::SgdRule;

extern template class RowwiseOptimizer<SgdRule>;  // instantiated in src/optim/optimizers.cpp

class Sgd : public RowwiseOptimizer<SgdRule> {
 public:
  explicit Sgd(float learning_rate) : RowwiseOptimizer(learning_rate, SgdRule{}) {}
  std::string name() const override { return "sgd"; }
};

}  // namespace embcomp
