// The update rules of the row-wise optimizers, for both backends. An element rule
// (kRowWise = false) updates one element at a time: the CPU optimizer (optim/) walks a row's
// elements, a CUDA kernel gives each element a thread.
//   update_element(w, g, state, stride, k): state[s * stride] is slot s of this element (a row's
//   state is [slots x width], so stride = width).
// A rule with a row form (kRowWise = true) keeps the state of an embedding row per row
// ([slots]) and updates the whole row: update_row(w, g, state, width, k); its update_element
// serves the other (dense) parameters.
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
  static constexpr bool kRowWise = false;
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
  static constexpr bool kRowWise = false;
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
  static constexpr bool kRowWise = false;
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

/// Row-wise Adagrad (FBGEMM's EXACT_ROWWISE_ADAGRAD, TorchRec's default embedding optimizer):
/// one accumulator per embedding row instead of one per element, so its state is 1/width of
/// Adagrad's.
///   a += mean_c(g_c^2);  w_c -= lr * g_c / (sqrt(a) + eps)
/// State per row: a (starts at 0). eps is FBGEMM's default. Dense parameters (a model's
/// layers, a method's networks) take element-wise Adagrad with the same eps (update_element),
/// as TorchRec pairs its fused row-wise embedding optimizer with Adagrad for the dense model.
struct RowwiseAdagradRule {
  static constexpr int kSlots = 1;
  static constexpr bool kRowWise = true;
  float eps = 1e-8f;

  struct Coefficients {
    float lr;
  };
  Coefficients coefficients(float lr, std::uint64_t /*step*/) const { return {lr}; }
  EMBCOMP_HD void update_row(float* w, const float* g, float* state, Index width,
                             const Coefficients& k) const {
    float squares = 0.0f;
    for (Index c = 0; c < width; ++c) squares += g[c] * g[c];
    float& accumulator = state[0];
    accumulator += squares / static_cast<float>(width);
    const float multiplier = k.lr / (std::sqrt(accumulator) + eps);
    for (Index c = 0; c < width; ++c) w[c] -= multiplier * g[c];
  }
  EMBCOMP_HD void update_element(float& w, float g, float* state, Index stride,
                                 const Coefficients& k) const {
    AdagradRule{eps}.update_element(w, g, state, stride, AdagradRule::Coefficients{k.lr});
  }
};

/// fp32 state values of one row of `width` elements: [slots] when the rule's row form updates it
/// (`by_row`), [slots x width] otherwise.
template <class Rule>
EMBCOMP_HD constexpr Index row_state_width(Index width, bool by_row) {
  return by_row ? Rule::kSlots : Rule::kSlots * width;
}

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

/// One row of `width` elements whose state is row_state_width<Rule>(width, by_row) values: the
/// rule's row form when `by_row` (a rule with kRowWise), else its update_element over the row.
template <class Rule>
EMBCOMP_HD void update_row(const Rule& rule, float* w, const float* g, float* state, Index width,
                           const typename Rule::Coefficients& k, bool by_row = false) {
  if constexpr (Rule::kRowWise) {
    if (by_row) {
      rule.update_row(w, g, state, width, k);
      return;
    }
  }
  // Copies of the rule and its coefficients: read through the references, they could alias
  // the rows the loop writes, and the loop would not vectorize.
  const Rule r = rule;
  const typename Rule::Coefficients coefficients = k;
  for (Index c = 0; c < width; ++c) {
    r.update_element(w[c], g[c], element_state<Rule>(state, c), width, coefficients);
  }
}

}  // namespace embcomp::kernels
