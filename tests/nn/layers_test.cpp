// nn/ layers: forward against naive loops, backward (parameters and inputs) against central
// finite differences, initialisation, and BatchNorm's train/eval behaviour.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "embcomp/nn/batch_norm.hpp"
#include "embcomp/nn/cross_layer.hpp"
#include "embcomp/nn/dot_interaction.hpp"
#include "embcomp/nn/linear.hpp"
#include "embcomp/nn/mlp.hpp"
#include "nn/gradient_check.hpp"
#include "support.hpp"

using namespace embcomp;

namespace {

constexpr Index kBatch = 5;
constexpr double kBatchSize = 5.0;

std::span<float> values_of(Parameter& p) { return {p.data(), p.size()}; }

/// A [rows x cols] input of uniform(-1, 1) values.
struct Input {
  std::vector<float> values;
  Index rows, cols;
  Input(Index r, Index c, unsigned seed)
      : values(test::random_values(static_cast<std::size_t>(r * c), seed)), rows(r), cols(c) {}
  ConstMatrix view() const { return {values.data(), rows, cols}; }
};

/// Runs forward + backward of `layer` once with loss weights w, then checks the gradient of
/// every parameter and of the input x by finite differences.
template <class Layer>
void check_layer(Layer& layer, Input& x, Index out_cols, unsigned seed) {
  const std::vector<float> w = test::random_values(static_cast<std::size_t>(x.rows * out_cols), seed);
  auto loss = [&] { return test::weighted_sum(layer.forward(x.view()), w); };
  loss();
  Gradients grads;
  const ConstMatrix dx = layer.backward({w.data(), x.rows, out_cols}, grads);
  const std::vector<float> dx_copy(dx.data, dx.data + dx.size());
  std::vector<Parameter*> params;
  layer.collect_parameters(params);
  for (Parameter* p : params) {
    test::check_gradient(p->name(), values_of(*p), test::gradient_of(grads, *p), loss);
  }
  test::check_gradient("input", x.values, dx_copy, loss);
}

}  // namespace

TEST_CASE("Linear: forward is x W + b", "[nn]") {
  nn::Linear layer("fc", 4, 3, 7);
  const std::vector<float> b = test::random_values(3, 2);
  std::copy(b.begin(), b.end(), layer.bias()->data());
  const Input x(kBatch, 4, 3);
  const ConstMatrix y = layer.forward(x.view());
  REQUIRE(y.rows == kBatch);
  REQUIRE(y.cols == 3);
  for (Index r = 0; r < kBatch; ++r) {
    for (Index c = 0; c < 3; ++c) {
      double expected = b[c];
      for (Index k = 0; k < 4; ++k) expected += double{x.values[r * 4 + k]} * layer.weight().row(k)[c];
      CHECK(y.row(r)[c] == Approx(expected).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("Linear over borrowed parameters: the same products, gradients into those parameters",
          "[nn]") {
  nn::Linear owner("fc", 4, 3, 7);
  const std::vector<float> b = test::random_values(3, 2);
  std::copy(b.begin(), b.end(), owner.bias()->data());
  Parameter weight("w", 4, 3, ParamKind::dense), bias("b", 1, 3, ParamKind::dense);
  std::copy_n(owner.weight().data(), 12, weight.data());
  std::copy(b.begin(), b.end(), bias.data());
  nn::Linear borrowed(weight, &bias);
  const Input x(kBatch, 4, 3);
  const ConstMatrix expected = owner.forward(x.view());
  const std::vector<float> want(expected.data, expected.data + expected.size());
  const ConstMatrix y = borrowed.forward(x.view());
  CHECK(std::vector<float>(y.data, y.data + y.size()) == want);
  std::vector<float> inferred(want.size());
  borrowed.infer(x.view(), {inferred.data(), kBatch, 3});
  CHECK(inferred == want);
  Gradients grads;
  borrowed.backward(y, grads);
  REQUIRE(grads.dense.size() == 2);
  CHECK(grads.dense[0].param == &weight);
  CHECK(grads.dense[1].param == &bias);
  Parameter wrong("b", 1, 4, ParamKind::dense);
  CHECK_THROWS_AS(nn::Linear(weight, &wrong), InvalidArgument);
  Input other(kBatch, 4, 8);
  check_layer(borrowed, other, 3, 9);
}

TEST_CASE("Linear: backward against finite differences, with and without bias", "[nn]") {
  for (const bool bias : {true, false}) {
    nn::Linear layer("fc", 6, 4, 3, bias);
    if (bias) {
      const std::vector<float> b = test::random_values(4, 9);
      std::copy(b.begin(), b.end(), layer.bias()->data());
    }
    Input x(kBatch, 6, 4);
    check_layer(layer, x, 4, 5);
  }
}

TEST_CASE("Linear: Xavier-normal init is deterministic under a seed, zero bias", "[nn]") {
  const Index in = 300, out = 200;
  nn::Linear a("a", in, out, 42), b("b", in, out, 42), c("c", in, out, 43);
  const std::span<const float> wa = values_of(a.weight()), wb = values_of(b.weight()),
                               wc = values_of(c.weight());
  CHECK(std::equal(wa.begin(), wa.end(), wb.begin()));
  CHECK(!std::equal(wa.begin(), wa.end(), wc.begin()));
  double sum = 0.0, sum_sq = 0.0;
  for (const float v : wa) sum += v, sum_sq += double{v} * v;
  const double n = static_cast<double>(wa.size());
  const double variance = sum_sq / n - (sum / n) * (sum / n);
  CHECK(sum / n == Approx(0.0).margin(5e-4));
  CHECK(variance == Approx(2.0 / (in + out)).epsilon(0.02));
  for (const float v : values_of(*a.bias())) CHECK(v == 0.0f);
}

TEST_CASE("MLP: widths, last activation and backward against finite differences", "[nn]") {
  nn::MLP mlp("mlp", 6, {8, 8, 3}, nn::ActivationKind::relu, nn::ActivationKind::mish, 17);
  CHECK(mlp.depth() == 3);
  CHECK(mlp.in() == 6);
  CHECK(mlp.out() == 3);
  std::vector<Parameter*> params;
  mlp.collect_parameters(params);
  REQUIRE(params.size() == 6);
  CHECK(params[2]->name() == "mlp.1.weight");
  CHECK(params[2]->rows() == 8);
  CHECK(params[2]->width() == 8);
  Input x(kBatch, 6, 21);
  check_layer(mlp, x, 3, 22);
}

TEST_CASE("MLP: a last activation of none leaves negative outputs", "[nn]") {
  nn::MLP linear_out("m", 4, {8, 16}, nn::ActivationKind::relu, nn::ActivationKind::none, 3);
  nn::MLP relu_out("m", 4, {8, 16}, nn::ActivationKind::relu, nn::ActivationKind::relu, 3);
  const Input x(kBatch, 4, 30);
  const ConstMatrix a = linear_out.forward(x.view());
  const ConstMatrix b = relu_out.forward(x.view());
  bool any_negative = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    any_negative = any_negative || a.data[i] < 0.0f;
    CHECK(b.data[i] == std::max(a.data[i], 0.0f));
  }
  CHECK(any_negative);
}

TEST_CASE("Dot interaction: forward against a naive triple loop", "[nn]") {
  const Index vectors = 5, dim = 3;
  const Input z(kBatch, vectors * dim, 40);
  for (const bool keep_first : {true, false}) {
    nn::DotInteraction layer(vectors, dim, keep_first);
    const Index first = keep_first ? dim : 0;
    REQUIRE(layer.out() == first + vectors * (vectors - 1) / 2);
    const ConstMatrix y = layer.forward(z.view());
    for (Index b = 0; b < kBatch; ++b) {
      const float* zb = z.values.data() + b * vectors * dim;
      for (Index c = 0; c < first; ++c) CHECK(y.row(b)[c] == zb[c]);
      Index k = first;
      for (Index i = 0; i < vectors; ++i) {
        for (Index j = 0; j < i; ++j, ++k) {
          double dot = 0.0;
          for (Index c = 0; c < dim; ++c) dot += double{zb[i * dim + c]} * zb[j * dim + c];
          CHECK(y.row(b)[k] == Approx(dot).epsilon(1e-5).margin(1e-6));
        }
      }
    }
  }
}

TEST_CASE("Dot interaction: backward against finite differences", "[nn]") {
  for (const bool keep_first : {true, false}) {
    nn::DotInteraction layer(4, 3, keep_first);
    Input z(kBatch, 12, 41);
    check_layer(layer, z, layer.out(), 42);
  }
}

TEST_CASE("Dot interaction: backward against the naive sums, on one and on several threads",
          "[nn]") {
  // 600 rows take the parallel path (>= 512); the protocol's 27 vectors of dim 16 fill whole
  // and partial GEMM tiles.
  for (const Index rows : {Index{7}, Index{600}}) {
    const Index vectors = 27, dim = 16;
    nn::DotInteraction layer(vectors, dim, true);
    const Input z(rows, vectors * dim, 43);
    const Input dy(rows, layer.out(), 44);
    layer.forward(z.view());
    Gradients grads;
    const ConstMatrix dz = layer.backward(dy.view(), grads);
    for (Index b = 0; b < rows; ++b) {
      const float* zb = z.values.data() + b * vectors * dim;
      const float* gb = dy.values.data() + b * layer.out();
      std::vector<double> expected(static_cast<std::size_t>(vectors * dim), 0.0);
      for (Index c = 0; c < dim; ++c) expected[c] = gb[c];
      for (Index i = 1, k = dim; i < vectors; ++i) {
        for (Index j = 0; j < i; ++j, ++k) {
          for (Index c = 0; c < dim; ++c) {
            expected[i * dim + c] += double{gb[k]} * zb[j * dim + c];
            expected[j * dim + c] += double{gb[k]} * zb[i * dim + c];
          }
        }
      }
      for (Index c = 0; c < vectors * dim; ++c) {
        REQUIRE(dz.row(b)[c] == Approx(expected[c]).margin(1e-4));
      }
    }
  }
}

TEST_CASE("Cross layer: forward is x0 * (xl . w) + xl + b", "[nn]") {
  const Index n = 5;
  nn::CrossLayer layer("cross", n, 8);
  const std::vector<float> b = test::random_values(n, 50);
  std::vector<Parameter*> params;
  layer.collect_parameters(params);
  std::copy(b.begin(), b.end(), params[1]->data());
  const Input x0(kBatch, n, 51), xl(kBatch, n, 52);
  const ConstMatrix y = layer.forward(x0.view(), xl.view());
  for (Index r = 0; r < kBatch; ++r) {
    double s = 0.0;
    for (Index c = 0; c < n; ++c) s += double{xl.values[r * n + c]} * params[0]->data()[c];
    for (Index c = 0; c < n; ++c) {
      const double expected = x0.values[r * n + c] * s + xl.values[r * n + c] + b[c];
      CHECK(y.row(r)[c] == Approx(expected).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("Cross layer: backward w.r.t. w, b, x0 and xl against finite differences", "[nn]") {
  const Index n = 6;
  nn::CrossLayer layer("cross", n, 9);
  std::vector<Parameter*> params;
  layer.collect_parameters(params);
  const std::vector<float> b = test::random_values(n, 60);
  std::copy(b.begin(), b.end(), params[1]->data());
  Input x0(kBatch, n, 61), xl(kBatch, n, 62);
  const std::vector<float> w = test::random_values(static_cast<std::size_t>(kBatch * n), 63);
  auto loss = [&] { return test::weighted_sum(layer.forward(x0.view(), xl.view()), w); };
  loss();
  Gradients grads;
  std::vector<float> dx0(w.size(), 0.0f);
  const ConstMatrix dxl = layer.backward({w.data(), kBatch, n}, grads, {dx0.data(), kBatch, n});
  const std::vector<float> dxl_copy(dxl.data, dxl.data + dxl.size());
  for (Parameter* p : params) {
    test::check_gradient(p->name(), values_of(*p), test::gradient_of(grads, *p), loss);
  }
  test::check_gradient("x0", x0.values, dx0, loss);
  test::check_gradient("xl", xl.values, dxl_copy, loss);
}

TEST_CASE("BatchNorm training mode: normalised output, gradients by finite differences", "[nn]") {
  const Index channels = 4;
  nn::BatchNorm bn("bn", channels);
  const std::vector<float> gamma = test::random_values(channels, 70), beta = test::random_values(channels, 71);
  std::copy(gamma.begin(), gamma.end(), bn.gamma().data());
  std::copy(beta.begin(), beta.end(), bn.beta().data());
  Input x(kBatch, channels, 72);
  for (float& v : x.values) v = 2.0f * v + 0.5f;
  const ConstMatrix y = bn.forward(x.view());
  for (Index c = 0; c < channels; ++c) {
    double mean = 0.0, sq = 0.0;
    for (Index r = 0; r < kBatch; ++r) mean += y.row(r)[c] / kBatchSize;
    for (Index r = 0; r < kBatch; ++r) sq += std::pow(y.row(r)[c] - mean, 2) / kBatchSize;
    CHECK(mean == Approx(beta[c]).margin(1e-5));
    CHECK(std::sqrt(sq) == Approx(std::fabs(gamma[c])).epsilon(1e-3));
  }
  check_layer(bn, x, channels, 73);
}

TEST_CASE("BatchNorm: running statistics with momentum 0.1, eval mode uses them", "[nn]") {
  const Index channels = 3;
  nn::BatchNorm bn("bn", channels);
  Input x(kBatch, channels, 80);
  for (float& v : x.values) v = 3.0f * v - 1.0f;
  bn.forward(x.view());
  for (Index c = 0; c < channels; ++c) {
    double mean = 0.0, sq = 0.0;
    for (Index r = 0; r < kBatch; ++r) mean += x.values[r * channels + c] / kBatchSize;
    for (Index r = 0; r < kBatch; ++r) sq += std::pow(x.values[r * channels + c] - mean, 2);
    CHECK(bn.running_mean()[c] == Approx(0.1 * mean).epsilon(1e-5).margin(1e-7));
    CHECK(bn.running_var()[c] == Approx(0.9 + 0.1 * sq / (kBatchSize - 1.0)).epsilon(1e-5));
  }

  const auto copy = [](std::span<const float> v) { return std::vector<float>(v.begin(), v.end()); };
  const std::vector<float> mean_after = copy(bn.running_mean()), var_after = copy(bn.running_var());
  bn.set_training(false);
  Input other(kBatch, channels, 81);
  const ConstMatrix y = bn.forward(other.view());
  CHECK(copy(bn.running_mean()) == mean_after);  // eval mode leaves the statistics alone
  CHECK(copy(bn.running_var()) == var_after);
  for (Index r = 0; r < kBatch; ++r) {
    for (Index c = 0; c < channels; ++c) {
      const double expected = (other.values[r * channels + c] - mean_after[c]) /
                              std::sqrt(double{var_after[c]} + 1e-5);
      CHECK(y.row(r)[c] == Approx(expected).epsilon(1e-5).margin(1e-6));
    }
  }
  // infer, the thread-safe serving path, computes eval mode too.
  std::vector<float> inferred(static_cast<std::size_t>(kBatch * channels));
  bn.infer(other.view(), {inferred.data(), kBatch, channels});
  for (Index i = 0; i < kBatch * channels; ++i) CHECK(inferred[i] == Approx(y.data[i]).epsilon(1e-6).margin(1e-7));
  check_layer(bn, other, channels, 82);  // eval-mode backward: a per-channel affine map
}
