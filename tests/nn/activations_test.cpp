// The elementwise math of kernels/activations.hpp and the BCE loss: values against the
// textbook formulas, stability at extreme logits, and gradients by finite differences.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "embcomp/kernels/activations.hpp"
#include "embcomp/nn/activation.hpp"
#include "embcomp/nn/loss.hpp"
#include "nn/gradient_check.hpp"
#include "support.hpp"

using namespace embcomp;

TEST_CASE("sigmoid, softplus and mish match their formulas", "[nn]") {
  for (const double x : {-5.0, -1.0, -0.25, 0.0, 0.5, 2.0, 6.0}) {
    const auto xf = static_cast<float>(x);
    const double softplus = std::log(1.0 + std::exp(x));
    CHECK(kernels::sigmoid(xf) == Approx(1.0 / (1.0 + std::exp(-x))).epsilon(1e-6));
    CHECK(kernels::softplus(xf) == Approx(softplus).epsilon(1e-6).margin(1e-7));
    CHECK(kernels::mish(xf) == Approx(x * std::tanh(softplus)).epsilon(1e-5).margin(1e-7));
  }
  CHECK(kernels::mish(1.0f) == Approx(0.8650984).epsilon(1e-6));  // published value of mish(1)
}

TEST_CASE("sigmoid and softplus stay finite and exact at extreme inputs", "[nn]") {
  CHECK(kernels::sigmoid(100.0f) == 1.0f);
  CHECK(kernels::sigmoid(-100.0f) >= 0.0f);
  CHECK(kernels::sigmoid(-100.0f) < 1e-40f);
  CHECK(kernels::softplus(100.0f) == 100.0f);
  CHECK(kernels::softplus(-100.0f) >= 0.0f);
  CHECK(kernels::softplus(-100.0f) < 1e-40f);
  CHECK(std::isfinite(kernels::mish(-100.0f)));
  CHECK(kernels::mish(100.0f) == 100.0f);
}

TEST_CASE("ReLU and Mish derivatives match central differences", "[nn]") {
  for (float x = -4.0f; x <= 4.0f; x += 0.37f) {
    const double h = 1e-3;
    const auto xd = static_cast<double>(x);
    auto mish = [](double v) { return v * std::tanh(std::log1p(std::exp(v))); };
    CHECK(kernels::mish_derivative(x) == Approx((mish(xd + h) - mish(xd - h)) / (2 * h)).epsilon(1e-4).margin(1e-5));
    CHECK(kernels::relu_derivative(x) == (x > 0.0f ? 1.0f : 0.0f));
  }
}

TEST_CASE("Activation layers: backward against finite differences", "[nn]") {
  const Index batch = 5, width = 7;
  std::vector<float> x = test::random_values(static_cast<std::size_t>(batch * width), 11);
  for (float& v : x) v = 3.0f * v + (v >= 0.0f ? 0.1f : -0.1f);  // no value near ReLU's kink
  const std::vector<float> weights = test::random_values(x.size(), 12);
  for (const auto kind : {nn::ActivationKind::relu, nn::ActivationKind::mish, nn::ActivationKind::none}) {
    nn::Activation layer(kind);
    Gradients grads;
    const ConstMatrix in{x.data(), batch, width};
    auto loss = [&] { return test::weighted_sum(layer.forward(in), weights); };
    loss();
    const ConstMatrix dx = layer.backward({weights.data(), batch, width}, grads);
    std::vector<float> analytic(dx.data, dx.data + dx.size());
    test::check_gradient("x", x, analytic, loss);
  }
}

TEST_CASE("Activation layers compute relu and mish elementwise", "[nn]") {
  const std::vector<float> x{-2.0f, -0.5f, 0.0f, 0.5f, 3.0f, 1.0f};
  nn::Activation relu(nn::ActivationKind::relu), mish(nn::ActivationKind::mish);
  const ConstMatrix in{x.data(), 2, 3};
  const ConstMatrix r = relu.forward(in);
  const ConstMatrix m = mish.forward(in);
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(r.data[i] == std::max(x[i], 0.0f));
    const double sp = std::log1p(std::exp(static_cast<double>(x[i])));
    CHECK(m.data[i] == Approx(x[i] * std::tanh(sp)).epsilon(1e-5).margin(1e-7));
  }
}

TEST_CASE("BCE with logits: mean loss and gradient against the formula", "[nn]") {
  const std::vector<float> logits{-3.0f, -0.7f, 0.0f, 0.4f, 2.5f};
  const std::vector<float> labels{0.0f, 1.0f, 1.0f, 0.0f, 1.0f};
  std::vector<float> dlogits(logits.size());
  const double loss = nn::bce_with_logits(logits, labels, dlogits);
  double expected = 0.0;
  for (std::size_t b = 0; b < logits.size(); ++b) {
    const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[b])));
    expected -= labels[b] * std::log(p) + (1.0 - labels[b]) * std::log(1.0 - p);
    CHECK(dlogits[b] == Approx((p - labels[b]) / 5.0).epsilon(1e-5));
  }
  CHECK(loss == Approx(expected / 5.0).epsilon(1e-6));
}

TEST_CASE("BCE with logits: finite loss and exact gradient at logits of +-100", "[nn]") {
  const std::vector<float> logits{100.0f, -100.0f, 100.0f, -100.0f};
  const std::vector<float> labels{1.0f, 0.0f, 0.0f, 1.0f};
  std::vector<float> dlogits(logits.size());
  const double loss = nn::bce_with_logits(logits, labels, dlogits);
  // Two confident right answers cost ~0, two confident wrong ones cost 100 each.
  CHECK(std::isfinite(loss));
  CHECK(loss == Approx(50.0).epsilon(1e-6));
  CHECK(dlogits[0] == Approx(0.0).margin(1e-7));
  CHECK(dlogits[1] == Approx(0.0).margin(1e-7));
  CHECK(dlogits[2] == Approx(0.25).epsilon(1e-6));
  CHECK(dlogits[3] == Approx(-0.25).epsilon(1e-6));
}

TEST_CASE("BCE with logits: gradient against finite differences", "[nn]") {
  std::vector<float> logits{-2.0f, -0.3f, 0.6f, 1.7f, 4.0f};
  const std::vector<float> labels{1.0f, 0.0f, 1.0f, 0.0f, 0.3f};
  std::vector<float> dlogits(logits.size()), scratch(logits.size());
  nn::bce_with_logits(logits, labels, dlogits);
  test::check_gradient("logits", logits, dlogits, [&] { return nn::bce_with_logits(logits, labels, scratch); });
  CHECK_THROWS_AS(nn::bce_with_logits(logits, std::vector<float>(2), dlogits), InvalidArgument);
}
