// Elementwise math of the neural-network layers, written once for both backends: stable
// sigmoid and softplus, ReLU, Mish and their derivatives, and binary cross-entropy on logits.
#pragma once

#include <cmath>

#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// 1 / (1 + exp(-x)) without overflow for large |x|.
EMBCOMP_HD float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

/// log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow, exact for large |x|.
EMBCOMP_HD float softplus(float x) { return std::fmax(x, 0.0f) + std::log1p(std::exp(-std::fabs(x))); }

EMBCOMP_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }
/// The derivative of relu at x (0 at the kink, as every framework does).
EMBCOMP_HD float relu_derivative(float x) { return x > 0.0f ? 1.0f : 0.0f; }

/// mish(x) = x * tanh(softplus(x)).
EMBCOMP_HD float mish(float x) { return x * std::tanh(softplus(x)); }
/// d mish / dx = tanh(sp) + x * (1 - tanh(sp)^2) * sigmoid(x), with sp = softplus(x).
EMBCOMP_HD float mish_derivative(float x) {
  const float t = std::tanh(softplus(x));
  return t + x * (1.0f - t * t) * sigmoid(x);
}

/// Binary cross-entropy of a logit z against a label y in [0, 1]:
/// -y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z)) = softplus(z) - y z, finite for any z.
EMBCOMP_HD float bce_with_logits(float z, float y) { return softplus(z) - y * z; }
/// d bce_with_logits / dz = sigmoid(z) - y.
EMBCOMP_HD float bce_with_logits_derivative(float z, float y) { return sigmoid(z) - y; }

}  // namespace embcomp::kernels
