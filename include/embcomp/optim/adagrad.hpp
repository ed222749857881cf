// Adagrad: a += g^2; w -= lr * g / (sqrt(a) + eps). State per element: a (starts at 0).
#pragma once

#include <cmath>

#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

struct AdagradRule {
  static constexpr int kSlots = 1;
  float eps = 1e-7f;  ///< the reference's epsilon

  struct Coefficients {
    float lr;
  };
  Coefficients coefficients(float lr, std::uint64_t /*step*/) const { return {lr}; }
  void update(float* w, const float* g, float* accumulator, Index width,
              const Coefficients& k) const {
    for (Index c = 0; c < width; ++c) {
      accumulator[c] += g[c] * g[c];
      w[c] -= k.lr * g[c] / (std::sqrt(accumulator[c]) + eps);
    }
  }
};

class Adagrad : public RowwiseOptimizer<AdagradRule> {
 public:
  explicit Adagrad(float learning_rate, float eps = 1e-7f)
      : RowwiseOptimizer(learning_rate, AdagradRule{eps}) {}
  std::string name() const override { return "adagrad"; }
};

}  // namespace embcomp
