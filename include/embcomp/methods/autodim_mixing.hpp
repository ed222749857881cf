// autodim's architecture logits (methods/autodim.hpp), written once for the CPU table and its CUDA
// twin (which keeps them on the host): the temperature, the mixing weights of the logits alpha
// [F x K] with or without Gumbel noise, and the logits' SGD step on validation batches; and the
// constants of the candidates' BatchNorm.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp::autodim {

/// The candidates' BatchNorm: momentum of the running statistics, and eps.
inline constexpr float kNormMomentum = 0.1f;
inline constexpr float kNormEps = 1e-5f;

/// The lowest softmax temperature.
inline constexpr float kMinTemperature = 0.01f;

/// tau = max(0.01, 1 - temperature_decay * training samples seen).
inline float temperature(double temperature_decay, std::uint64_t samples) {
  const double t = 1.0 - temperature_decay * static_cast<double>(samples);
  return static_cast<float>(std::max<double>(kMinTemperature, t));
}

/// log_softmax of every row of the logits alpha [F x K], [F x K].
inline std::vector<float> log_probabilities(const float* alpha, Index F, Index K) {
  std::vector<float> out(static_cast<std::size_t>(F * K));
  for (Index f = 0; f < F; ++f) {
    const float* a = alpha + f * K;
    const float top = *std::max_element(a, a + K);
    double z = 0.0;
    for (Index k = 0; k < K; ++k) z += std::exp(static_cast<double>(a[k] - top));
    const auto log_z = static_cast<float>(std::log(z));
    for (Index k = 0; k < K; ++k) out[f * K + k] = a[k] - top - log_z;
  }
  return out;
}

/// The mixing weights P [F x K] = softmax((log_softmax(alpha) + G) / tau) of the logits alpha
/// [F x K]: G the Gumbel noise of search step `step` in `stream` with `noise`, else 0.
inline std::vector<float> mixing_weights(const float* alpha, Index F, Index K, float tau,
                                         std::uint64_t stream, std::uint64_t step, bool noise) {
  const float inv_tau = 1.0f / tau;
  std::vector<float> P = log_probabilities(alpha, F, K);
  for (Index f = 0; f < F; ++f) {
    float* row = P.data() + f * K;
    for (Index k = 0; k < K; ++k) {
      const float g = noise ? kernels::gumbel(stream, (step * F + f) * K + k) : 0.0f;
      row[k] = (row[k] + g) * inv_tau;
    }
    const float top = *std::max_element(row, row + K);
    float sum = 0.0f;
    for (Index k = 0; k < K; ++k) sum += row[k] = std::exp(row[k] - top);
    for (Index k = 0; k < K; ++k) row[k] /= sum;
  }
  return P;
}

/// One SGD step of the logits alpha [F x K] at rate lr, for the gradient dP [F x K] of the
/// mixing weights P (lookup's, at temperature tau):
///   dL/dalpha[f][j] = P[f][j] (dP[f][j] - sum_k P[f][k] dP[f][k]) / tau.
inline void step_logits(float* alpha, Index F, Index K, const std::vector<float>& P,
                        const std::vector<double>& dP, float tau, float lr) {
  const double inv_tau = 1.0 / tau;
  for (Index f = 0; f < F; ++f) {
    double mean = 0.0;
    for (Index k = 0; k < K; ++k) mean += P[f * K + k] * dP[f * K + k];
    for (Index k = 0; k < K; ++k) {
      const double grad = P[f * K + k] * (dP[f * K + k] - mean) * inv_tau;
      alpha[f * K + k] -= static_cast<float>(lr * grad);
    }
  }
}

}  // namespace embcomp::autodim
