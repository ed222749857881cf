// Finite-difference checks of analytic gradients, shared by the nn and model tests.
// Losses are L = sum(weights ⊙ output), so dL/doutput = weights; the float forward is
// evaluated at x ± eps and the central difference is compared with the analytic value.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "embcomp/core/gradients.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp::test {

/// sum(weights ⊙ y), accumulated in double.
inline double weighted_sum(ConstMatrix y, const std::vector<float>& weights) {
  REQUIRE(weights.size() == y.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(weights[i]) * y.data[i];
  return sum;
}

/// The dense gradient that `grads` holds for `param`.
inline std::span<const float> gradient_of(const Gradients& grads, const Parameter& param) {
  for (const auto& g : grads.dense) {
    if (g.param == &param) return g.values;
  }
  FAIL("no dense gradient for " << param.name());
  return {};
}

/// Central difference of `loss` w.r.t. *value with step eps; *value is restored.
template <class Loss>
double central_difference(float* value, float eps, Loss& loss) {
  const float saved = *value;
  *value = saved + eps;
  const double plus = loss();
  *value = saved - eps;
  const double minus = loss();
  *value = saved;
  return (plus - minus) / (2.0 * static_cast<double>(eps));
}

/// Checks analytic[i] = dL/dvalues[i] by central differences of `loss` for up to `max_checks`
/// entries spread over `values`. A ReLU kink inside [x - eps, x + eps] spoils a difference; it
/// shows as disagreement between steps eps and eps/2, and such entries (at most one, or one
/// in ten) are skipped. Also requires that the analytic gradient is not identically zero, so
/// that a backward writing nothing fails.
template <class Loss>
void check_gradient(const std::string& what, std::span<float> values,
                    std::span<const float> analytic, Loss&& loss, float eps = 2e-3f,
                    std::size_t max_checks = 48) {
  INFO("gradient w.r.t. " << what);
  REQUIRE(values.size() == analytic.size());
  REQUIRE(!values.empty());
  const std::size_t stride = std::max<std::size_t>(1, values.size() / max_checks);
  double largest = 0.0;
  std::size_t checked = 0, near_kink = 0;
  for (std::size_t i = 0; i < values.size(); i += stride) {
    const double coarse = central_difference(&values[i], eps, loss);
    const double fine = central_difference(&values[i], eps / 2, loss);
    const double tolerance = 2e-3 + 1e-2 * std::fabs(fine);
    ++checked;
    if (std::fabs(coarse - fine) > tolerance) {
      ++near_kink;
      continue;
    }
    INFO("element " << i << ": analytic " << analytic[i] << ", numeric " << fine);
    CHECK(std::fabs(analytic[i] - fine) <= tolerance);
    largest = std::max(largest, std::fabs(static_cast<double>(analytic[i])));
  }
  CHECK(near_kink <= 1 + checked / 10);
  CHECK(largest > 1e-3);
}

}  // namespace embcomp::test
