// autodim's architecture logits (methods/autodim_mixing.hpp) on their own: the temperature
// schedule, log_softmax and the Gumbel-softmax mixing weights against plain double twins, and the
// logits' step against central differences of the loss it descends.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "embcomp/methods/autodim_mixing.hpp"

using namespace embcomp;

namespace {

constexpr Index kF = 3;
constexpr Index kK = 4;

/// Logits [3 x 4]: one row offset by 1000 (log_softmax must not overflow), one with a tie.
std::vector<float> logits() {
  return {0.3f,    -1.2f,   0.8f,   0.05f,    //
          1000.0f, 1001.5f, 999.0f, 1000.2f,  //
          0.5f,    0.5f,    -0.4f,  2.0f};
}

/// softmax((log_softmax(a) + g) / tau) of one row, in double: the plain twin.
std::vector<double> plain_mixing(const float* a, const std::vector<double>& g, double tau) {
  double top = a[0];
  for (Index k = 1; k < kK; ++k) top = std::max(top, static_cast<double>(a[k]));
  double z = 0.0;
  for (Index k = 0; k < kK; ++k) z += std::exp(a[k] - top);
  std::vector<double> p(kK);
  double sum = 0.0;
  for (Index k = 0; k < kK; ++k) {
    p[k] = std::exp((a[k] - top - std::log(z) + g[k]) / tau);
    sum += p[k];
  }
  for (double& v : p) v /= sum;
  return p;
}

/// L(alpha) = sum over f, k of P[f][k] dP[f][k], P the noiseless weights at tau (double twin).
double plain_loss(const std::vector<float>& alpha, const std::vector<double>& dP, double tau) {
  double loss = 0.0;
  for (Index f = 0; f < kF; ++f) {
    const auto p = plain_mixing(alpha.data() + f * kK, std::vector<double>(kK, 0.0), tau);
    for (Index k = 0; k < kK; ++k) loss += p[k] * dP[f * kK + k];
  }
  return loss;
}

}  // namespace

TEST_CASE("autodim's temperature falls linearly with the samples seen, to its floor", "[autodim]") {
  CHECK(autodim::temperature(1e-4, 0) == 1.0f);
  CHECK(autodim::temperature(1e-4, 2500) == Approx(0.75f));
  CHECK(autodim::temperature(0.0, 1'000'000'000) == 1.0f);
  CHECK(autodim::temperature(1e-4, 9000) == Approx(0.1f));
  CHECK(autodim::temperature(1e-4, 10'000) == autodim::kMinTemperature);
  CHECK(autodim::temperature(1e-4, std::uint64_t{1} << 40) == autodim::kMinTemperature);
}

TEST_CASE("autodim's log probabilities are log_softmax of each row, stable far from zero",
          "[autodim]") {
  const auto alpha = logits();
  const auto log_p = autodim::log_probabilities(alpha.data(), kF, kK);
  REQUIRE(log_p.size() == static_cast<std::size_t>(kF * kK));
  for (Index f = 0; f < kF; ++f) {
    INFO("row " << f);
    const auto p = plain_mixing(alpha.data() + f * kK, std::vector<double>(kK, 0.0), 1.0);
    for (Index k = 0; k < kK; ++k) {
      REQUIRE(std::isfinite(log_p[f * kK + k]));
      CHECK(log_p[f * kK + k] == Approx(std::log(p[k])).margin(1e-5));
    }
  }
  CHECK(log_p[8] == log_p[9]);  // the tie
  // Row 1 is {0, 1.5, -1, 0.2} shifted by 1000: the same log probabilities, up to the shift's
  // rounding of the inputs.
  const std::vector<float> unshifted{0.0f, 1.5f, -1.0f, 0.2f};
  const auto log_q = autodim::log_probabilities(unshifted.data(), 1, kK);
  for (Index k = 0; k < kK; ++k) CHECK(log_p[kK + k] == Approx(log_q[k]).margin(1e-4));
}

TEST_CASE("autodim's mixing weights are the Gumbel-softmax of the logits at the temperature",
          "[autodim]") {
  const auto alpha = logits();
  const std::uint64_t stream = 0x5eed, step = 7;
  for (const float tau : {1.0f, 0.3f, 0.05f}) {
    INFO("tau " << tau);
    const auto plain = autodim::mixing_weights(alpha.data(), kF, kK, tau, stream, step, false);
    const auto noisy = autodim::mixing_weights(alpha.data(), kF, kK, tau, stream, step, true);
    for (Index f = 0; f < kF; ++f) {
      std::vector<double> g(kK);
      for (Index k = 0; k < kK; ++k) {
        g[k] = kernels::gumbel(stream, static_cast<std::uint64_t>((step * kF + f) * kK + k));
      }
      const auto want_plain =
          plain_mixing(alpha.data() + f * kK, std::vector<double>(kK, 0.0), tau);
      const auto want_noisy = plain_mixing(alpha.data() + f * kK, g, tau);
      double sum = 0.0;
      for (Index k = 0; k < kK; ++k) {
        INFO("field " << f << ", candidate " << k);
        CHECK(plain[f * kK + k] == Approx(want_plain[k]).margin(1e-5));
        CHECK(noisy[f * kK + k] == Approx(want_noisy[k]).margin(1e-5));
        sum += noisy[f * kK + k];
      }
      CHECK(sum == Approx(1.0).margin(1e-6));
    }
    CHECK(noisy != plain);
  }
  // The noise is a function of (stream, step): the same again, another step's differs.
  CHECK(autodim::mixing_weights(alpha.data(), kF, kK, 0.5f, stream, step, true) ==
        autodim::mixing_weights(alpha.data(), kF, kK, 0.5f, stream, step, true));
  CHECK(autodim::mixing_weights(alpha.data(), kF, kK, 0.5f, stream, step, true) !=
        autodim::mixing_weights(alpha.data(), kF, kK, 0.5f, stream, step + 1, true));
}

TEST_CASE("autodim's logit step descends the mixing weights' loss by its exact gradient",
          "[autodim]") {
  const std::vector<float> alpha{0.3f,  -1.2f, 0.8f, 0.05f, 1.0f,  1.5f,
                                 -0.5f, 0.2f,  0.5f, 0.5f,  -0.4f, 2.0f};
  const std::vector<double> dP{0.7, -0.2, 1.1, 0.4, -0.9, 0.3, 0.05, 0.6, 0.2, -0.4, 0.8, -0.1};
  for (const float tau : {1.0f, 0.4f}) {
    INFO("tau " << tau);
    const auto P = autodim::mixing_weights(alpha.data(), kF, kK, tau, 0, 0, false);
    const float lr = 0.5f;
    auto stepped = alpha;
    autodim::step_logits(stepped.data(), kF, kK, P, dP, tau, lr);
    for (Index i = 0; i < kF * kK; ++i) {
      INFO("logit " << i);
      const double h = 1e-3;
      auto plus = alpha, minus = alpha;
      plus[i] += static_cast<float>(h);
      minus[i] -= static_cast<float>(h);
      const double spacing = static_cast<double>(plus[i]) - minus[i];
      const double numeric = (plain_loss(plus, dP, tau) - plain_loss(minus, dP, tau)) / spacing;
      const double analytic = (static_cast<double>(alpha[i]) - stepped[i]) / lr;
      CHECK(analytic == Approx(numeric).margin(2e-4));
    }
    CHECK(plain_loss(stepped, dP, tau) < plain_loss(alpha, dP, tau));
  }
}
