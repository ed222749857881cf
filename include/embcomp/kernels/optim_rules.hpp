// The update rules of the row-wise optimizers, one element at a time, for both backends: the
// CPU optimizer (optim/) walks a row's elements, a CUDA kernel gives each element a thread.
//   update_element(w, g, state, stride, k): state[s * stride] is slot s of this element (a row's
//   state is [slots x width], so stride = width).
// coefficients(lr, step) runs once per step on the host (bias corrections and the like).
#pragma once

#include <cmath>
#include <cstdint>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// Plain SGD: w -= lr * g.
struct SgdRule {
  static constexpr int kSlots = 0;
  struct Coefficients {
    float lr;
  };
  Coefficients coefficients(float lr, std::uint64_t /*step*/) const { return {lr}; }
  EMBCOMP_HD void update_element(float& w, float g, float* /*state*/, Index /*stride*/,
                                 const Coefficients& k) const {
    w -= k.lr * g;
  }
};

/// Adagrad: a += g^2; w -= lr * g / (sqrt(a) + eps). State per element: a (starts at 0).
struct AdagradRule {
  static constexpr int kSlots = 1;
  float eps = 1e-7f;  ///< the reference's epsilon

  struct Coefficients {
    float lr;
  };
  Coefficients coefficients(float lr, std::uint64_t /*step*/) const { return {lr}; }
  EMBCOMP_HD void update_element(float& w, float g, float* state, Index /*stride*/,
                                 const Coefficients& k) const {
    float& accumulator = state[0];
    accumulator += g * g;
    w -= k.lr * g / (std::sqrt(accumulator) + eps);
  }
};

/// Adam, lazy for sparse rows: m and v of a row change only when the row has a gradient, while
/// the bias correction uses the global step t (one count for all rows), as the reference does.
///   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
///   w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
/// State per element: m, v.
struct AdamRule {
  static constexpr int kSlots = 2;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;

  struct Coefficients {
    float step_size;     ///< lr / (1 - b1^t)
    float v_correction;  ///< 1 / (1 - b2^t)
  };
  Coefficients coefficients(float lr, std::uint64_t step) const {
    const double t = static_cast<double>(step);
    return {static_cast<float>(lr / (1.0 - std::pow(double{beta1}, t))),
            static_cast<float>(1.0 / (1.0 - std::pow(double{beta2}, t)))};
  }
  EMBCOMP_HD void update_element(float& w, float g, float* state, Index stride,
                                 const Coefficients& k) const {
    float& m = state[0];
    float& v = state[stride];
    m = beta1 * m + (1.0f - beta1) * g;
    v = beta2 * v + (1.0f - beta2) * g * g;
    w -= k.step_size * m / (std::sqrt(v * k.v_correction) + eps);
  }
};

/// state + offset: the state of one element, for a rule that keeps state; null for a stateless
/// rule (SGD), whose state is never allocated (offsetting a null pointer is undefined).
template <class Rule>
EMBCOMP_HD float* element_state(float* state, Index offset) {
  if constexpr (Rule::kSlots == 0) {
    return nullptr;
  } else {
    return state + offset;
  }
}

/// rule.update_element over one row of `width` elements whose state is [slots x width].
template <class Rule>
void update_row(const Rule& rule, float* w, const float* g, float* state, Index width,
                const typename Rule::Coefficients& k) {
  for (Index c = 0; c < width; ++c) {
    rule.update_element(w[c], g[c], element_state<Rule>(state, c), width, k);
  }
}

}  // namespace embcomp::kernels
