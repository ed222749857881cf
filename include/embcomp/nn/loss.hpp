// Binary cross-entropy on logits, the loss of every CTR model.
#pragma once

#include <span>

#include "embcomp/core/error.hpp"
#include "embcomp/kernels/activations.hpp"

namespace embcomp::nn {

/// Mean over the batch of bce(logits[b], labels[b]); writes dlogits[b] = (sigmoid(z) - y) / B.
/// Stable for any finite logit (softplus form). Returns the mean loss.
inline double bce_with_logits(std::span<const float> logits, std::span<const float> labels,
                              std::span<float> dlogits) {
  if (logits.size() != labels.size() || logits.size() != dlogits.size() || logits.empty()) {
    throw InvalidArgument("bce_with_logits: logits, labels and dlogits must have the same, "
                          "non-zero size");
  }
  const auto inv_batch = 1.0f / static_cast<float>(logits.size());
  double sum = 0.0;
  for (std::size_t b = 0; b < logits.size(); ++b) {
    sum += kernels::bce_with_logits(logits[b], labels[b]);
    dlogits[b] = kernels::bce_with_logits_derivative(logits[b], labels[b]) * inv_batch;
  }
  return sum / static_cast<double>(logits.size());
}

}  // namespace embcomp::nn
