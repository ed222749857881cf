// Plain SGD: w -= lr * g.
#pragma once

#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

struct SgdRule {
  static constexpr int kSlots = 0;
  struct Coefficients {
    float lr;
  };
  Coefficients coefficients(float lr, std::uint64_t /*step*/) const { return {lr}; }
  void update(float* w, const float* g, float* /*state*/, Index width,
              const Coefficients& k) const {
    for (Index c = 0; c < width; ++c) w[c] -= k.lr * g[c];
  }
};

class Sgd : public RowwiseOptimizer<SgdRule> {
 public:
  explicit Sgd(float learning_rate) : RowwiseOptimizer(learning_rate, SgdRule{}) {}
  std::string name() const override { return "sgd"; }
};

}  // namespace embcomp
