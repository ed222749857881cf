// Adam, lazy for sparse rows: m and v of a row change only when the row has a gradient, while
// the bias correction uses the global step t (one count for all rows), as the reference does.
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// State per row: [m (width), v (width)].
#pragma once

#include <cmath>

#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

struct AdamRule {
  static constexpr int kSlots = 2;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;

  struct Coefficients {
    float step_size;       ///< lr / (1 - b1^t)
    float v_correction;    ///< 1 / (1 - b2^t)
  };
  Coefficients coefficients(float lr, std::uint64_t step) const {
    const double t = static_cast<double>(step);
    return {static_cast<float>(lr / (1.0 - std::pow(double{beta1}, t))),
            static_cast<float>(1.0 / (1.0 - std::pow(double{beta2}, t)))};
  }
  void update(float* w, const float* g, float* state, Index width, const Coefficients& k) const {
    float* m = state;
    float* v = state + width;
    for (Index c = 0; c < width; ++c) {
      m[c] = beta1 * m[c] + (1.0f - beta1) * g[c];
      v[c] = beta2 * v[c] + (1.0f - beta2) * g[c] * g[c];
      w[c] -= k.step_size * m[c] / (std::sqrt(v[c] * k.v_correction) + eps);
    }
  }
};

class Adam : public RowwiseOptimizer<AdamRule> {
 public:
  explicit Adam(float learning_rate, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f)
      : RowwiseOptimizer(learning_rate, AdamRule{beta1, beta2, eps}) {}
  std::string name() const override { return "adam"; }
};

}  // namespace embcomp
