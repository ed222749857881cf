// Optimizer updates against values computed by hand, lazy sparse semantics, state accounting,
// refusal of non-finite gradients, and updates through an integer codec.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "embcomp/optim/sgd.hpp"
#include "support.hpp"

using namespace embcomp;
using embcomp::test::random_values;

namespace {

/// A [3 x 2] parameter holding w[r][c] = r + c/10 and a sparse gradient for rows `rows`.
struct Fixture {
  Parameter param{"w", 3, 2, ParamKind::rows};
  Gradients grads;

  Fixture() {
    for (Index r = 0; r < 3; ++r) {
      param.row(r)[0] = static_cast<float>(r);
      param.row(r)[1] = static_cast<float>(r) + 0.1f;
    }
  }
  void set_sparse(std::vector<Index> rows, std::vector<float> values) {
    grads.clear();
    SparseGrad& g = grads.sparse_for(param, static_cast<Index>(rows.size()));
    g.rows = std::move(rows);
    g.values = std::move(values);
  }
};

}  // namespace

TEST_CASE("SGD: w -= lr * g on the given rows only", "[optim]") {
  Fixture f;
  f.set_sparse({2}, {1.0f, -2.0f});
  Sgd sgd(0.5f);
  sgd.step(f.grads);
  CHECK(f.param.row(2)[0] == Approx(2.0f - 0.5f));
  CHECK(f.param.row(2)[1] == Approx(2.1f + 1.0f));
  CHECK(f.param.row(1)[0] == 1.0f);
  CHECK(sgd.state_bytes(f.param) == 0);
}

TEST_CASE("Adagrad: accumulator of squared gradients", "[optim]") {
  Fixture f;
  Adagrad adagrad(0.1f);
  f.set_sparse({0}, {2.0f, 0.0f});
  adagrad.step(f.grads);
  // a = 4; w = 0 - 0.1 * 2 / (2 + 1e-7)
  CHECK(f.param.row(0)[0] == Approx(-0.1f).epsilon(1e-5));
  CHECK(f.param.row(0)[1] == Approx(0.1f));
  adagrad.step(f.grads);
  // a = 8; w -= 0.1 * 2 / sqrt(8)
  CHECK(f.param.row(0)[0] == Approx(-0.1f - 0.2f / std::sqrt(8.0f)).epsilon(1e-5));
  CHECK(adagrad.state_bytes(f.param) == 3 * 2 * sizeof(float));
}

TEST_CASE("row-wise Adagrad: one accumulator per row, of the mean squared gradient", "[optim]") {
  Fixture f;
  RowwiseAdagrad rowwise(0.1f);
  f.set_sparse({0}, {2.0f, 0.0f});
  rowwise.step(f.grads);
  // a = (4 + 0) / 2 = 2; w = 0 - 0.1 * 2 / sqrt(2); the zero gradient leaves w[1].
  CHECK(f.param.row(0)[0] == Approx(-0.2f / std::sqrt(2.0f)).epsilon(1e-6));
  CHECK(f.param.row(0)[1] == 0.1f);
  f.set_sparse({0}, {2.0f, 2.0f});
  rowwise.step(f.grads);
  // a = 2 + 4 = 6: both elements move by 0.1 * 2 / sqrt(6).
  const float move = 0.2f / std::sqrt(6.0f);
  CHECK(f.param.row(0)[0] == Approx(-0.2f / std::sqrt(2.0f) - move).epsilon(1e-6));
  CHECK(f.param.row(0)[1] == Approx(0.1f - move).epsilon(1e-6));
  CHECK(*rowwise.state(f.param) == std::vector<float>{6.0f, 0.0f, 0.0f});
  CHECK(rowwise.state_bytes(f.param) == 3 * sizeof(float));  // Adagrad's: 3 x 2
}

TEST_CASE("row-wise Adagrad steps a dense parameter as element-wise Adagrad", "[optim]") {
  Parameter dense("layer", 2, 3, ParamKind::dense), twin("layer", 2, 3, ParamKind::dense);
  Gradients grads, twin_grads;
  const std::vector<float> g = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f, -1.0f};
  grads.dense_for(dense).values = g;
  twin_grads.dense_for(twin).values = g;
  RowwiseAdagrad rowwise(0.1f);
  Adagrad adagrad(0.1f, 1e-8f);
  for (int step = 0; step < 2; ++step) {
    rowwise.step(grads);
    adagrad.step(twin_grads);
  }
  CHECK(std::equal(dense.data(), dense.data() + 6, twin.data()));
  CHECK(*rowwise.state(dense) == *adagrad.state(twin));
  CHECK(rowwise.state_bytes(dense) == 6 * sizeof(float));
  CHECK_FALSE(rowwise.by_row(dense));
}

TEST_CASE("row-wise Adagrad matches a plain double loop on random rows", "[optim]") {
  const Index rows = 300, width = 12;
  const float lr = 0.05f, eps = 1e-8f;
  std::vector<double> w(static_cast<std::size_t>(rows * width)), a(static_cast<std::size_t>(rows));
  Parameter param("w", rows, width, ParamKind::rows);
  const auto initial = random_values(w.size(), 1);
  std::copy(initial.begin(), initial.end(), param.data());
  std::copy(initial.begin(), initial.end(), w.begin());
  RowwiseAdagrad rowwise(lr, eps);
  for (int step = 0; step < 4; ++step) {
    // Every third row, shifted by the step: more than 256 rows, so the parallel path.
    std::vector<Index> stepped;
    for (Index r = step; r < rows; r += 3) stepped.push_back(r);
    const auto g = random_values(stepped.size() * width, 10u + static_cast<unsigned>(step));
    Gradients grads;
    SparseGrad& sparse = grads.sparse_for(param, static_cast<Index>(stepped.size()));
    sparse.rows = stepped;
    sparse.values = g;
    rowwise.step(grads);
    for (std::size_t i = 0; i < stepped.size(); ++i) {
      const auto r = static_cast<std::size_t>(stepped[i]);
      double squares = 0.0;
      for (Index c = 0; c < width; ++c) squares += double{g[i * width + c]} * g[i * width + c];
      a[r] += squares / width;
      for (Index c = 0; c < width; ++c) {
        w[r * width + c] -= lr * g[i * width + c] / (std::sqrt(a[r]) + eps);
      }
    }
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    REQUIRE(param.data()[i] == Approx(w[i]).epsilon(1e-5).margin(1e-7));
  }
  for (std::size_t r = 0; r < a.size(); ++r) {
    REQUIRE((*rowwise.state(param))[r] == Approx(a[r]).epsilon(1e-5));
  }
}

TEST_CASE("row-wise Adagrad through a codec with learned steps keeps a state per row and step",
          "[optim]") {
  Parameter q("q", 5, 4, ParamKind::rows, CodecSpec{Codec::int8, ScaleMode::learned, 0.01f, 0.0f});
  REQUIRE(q.learns_step());
  RowwiseAdagrad rowwise(0.01f);
  CHECK(rowwise.state_units(q) == 10);  // 5 rows, 5 learned steps
  CHECK(rowwise.state_bytes(q) == 10 * sizeof(float));
  Gradients grads;
  SparseGrad& g = grads.sparse_for(q, 1);
  g.rows = {3};
  g.values = {0.5f, -0.5f, 0.25f, 1.0f};
  rowwise.step(grads);
  const std::vector<float>& state = *rowwise.state(q);
  REQUIRE(state.size() == 10);
  CHECK(state[3] == Approx((0.25 + 0.25 + 0.0625 + 1.0) / 4));  // row 3's accumulator
  CHECK(state[5 + 3] > 0.0f);                                    // row 3's step accumulator
  for (std::size_t i = 0; i < state.size(); ++i) {
    if (i != 3 && i != 8) CHECK(state[i] == 0.0f);
  }
}

TEST_CASE("copy_state_row moves a row's whole state, one value for row-wise Adagrad",
          "[optim]") {
  Fixture from, to;
  RowwiseAdagrad rowwise(0.1f);
  from.set_sparse({1}, {3.0f, 1.0f});
  rowwise.step(from.grads);
  rowwise.copy_state_row(from.param, 1, to.param, 2);
  CHECK(*rowwise.state(to.param) == std::vector<float>{0.0f, 0.0f, 5.0f});
  Adagrad adagrad(0.1f);
  adagrad.step(from.grads);
  adagrad.copy_state_row(from.param, 1, to.param, 0);
  CHECK(*adagrad.state(to.param) == std::vector<float>{9.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f});
}

TEST_CASE("Adam: hand-computed first two steps with bias correction", "[optim]") {
  Fixture f;
  Adam adam(0.01f);
  f.set_sparse({1}, {0.5f, -1.0f});
  adam.step(f.grads);
  // t=1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 -> w -= lr * sign(g) (eps negligible)
  CHECK(f.param.row(1)[0] == Approx(1.0f - 0.01f).epsilon(1e-6));
  CHECK(f.param.row(1)[1] == Approx(1.1f + 0.01f).epsilon(1e-6));
  adam.step(f.grads);
  // t=2 with the same g: m = 0.19 g, v = 0.001999 g^2; mhat = 0.19/0.19 g = g; vhat = g^2.
  CHECK(f.param.row(1)[0] == Approx(1.0f - 0.02f).epsilon(1e-5));
  CHECK(adam.state_bytes(f.param) == 2 * 3 * 2 * sizeof(float));
}

TEST_CASE("Adam is lazy: untouched rows keep weights and moments, t is global", "[optim]") {
  Fixture f;
  Adam adam(0.01f);
  f.set_sparse({0}, {1.0f, 1.0f});
  adam.step(f.grads);
  f.set_sparse({2}, {1.0f, 1.0f});
  adam.step(f.grads);  // t = 2 for row 2's first update
  const std::vector<float>& state = *adam.state(f.param);
  // Row 1 never touched: moments zero, weights unchanged.
  CHECK(state[1 * 4 + 0] == 0.0f);
  CHECK(state[1 * 4 + 2] == 0.0f);
  CHECK(f.param.row(1)[0] == 1.0f);
  // Row 2: m = 0.1, v = 0.001; mhat = 0.1 / (1 - 0.81), vhat = 0.001 / (1 - 0.998001)
  const double mhat = 0.1 / (1 - 0.81), vhat = 0.001 / (1 - 0.998001);
  CHECK(f.param.row(2)[0] == Approx(2.0 - 0.01 * mhat / (std::sqrt(vhat) + 1e-8)).epsilon(1e-5));
  CHECK(adam.steps() == 2);
}

TEST_CASE("dense gradients update every element", "[optim]") {
  Parameter p("proj", 2, 2, ParamKind::dense);
  Gradients grads;
  DenseGrad& g = grads.dense_for(p);
  g.values = {1, 2, 3, 4};
  Sgd(0.1f).step(grads);
  CHECK(p.data()[3] == Approx(-0.4f));
  CHECK(p.data()[0] == Approx(-0.1f));
}

namespace {

/// `optimizer` against its rule's update_element in a plain loop here, over 3 steps of a dense
/// [rows x width] parameter: equal bit for bit. The library's instantiation of the optimizer
/// (src/optim/optimizers.cpp) runs vectorized loops; this file's loop runs element by element.
template <class Opt>
void check_dense_against_plain_loop(Opt optimizer, Index rows, Index width) {
  using Rule = std::decay_t<decltype(optimizer.rule())>;
  const Rule rule = optimizer.rule();
  Parameter param("dense", rows, width, ParamKind::dense);
  const auto initial = random_values(static_cast<std::size_t>(rows * width), 3);
  std::copy(initial.begin(), initial.end(), param.data());
  std::vector<float> w = initial;
  // The element form's state: [slots x width] per row, as update_element addresses it.
  std::vector<float> state(static_cast<std::size_t>(rows * width * std::max(Rule::kSlots, 1)));
  for (std::uint64_t t = 1; t <= 3; ++t) {
    const auto g = random_values(w.size(), 20u + static_cast<unsigned>(t));
    Gradients grads;
    grads.dense_for(param).values = g;
    optimizer.step(grads);
    const auto k = rule.coefficients(optimizer.learning_rate(), t);
    for (Index r = 0; r < rows; ++r) {
      for (Index c = 0; c < width; ++c) {
        const auto i = static_cast<std::size_t>(r * width + c);
        float* element_state = Rule::kSlots == 0
                                   ? nullptr
                                   : state.data() + static_cast<std::size_t>(r * width * Rule::kSlots + c);
        rule.update_element(w[i], g[i], element_state, width, k);
      }
    }
  }
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(param.data()[i] == w[i]);
}

}  // namespace

TEST_CASE("the optimizers step dense parameters as their rule's plain loop does bit for bit",
          "[optim]") {
  // Widths around the vector width, and more than 256 rows: the parallel path.
  for (const Index width : {Index{1}, Index{7}, Index{8}, Index{19}, Index{64}}) {
    for (const Index rows : {Index{3}, Index{300}}) {
      INFO("rows " << rows << ", width " << width);
      check_dense_against_plain_loop(Sgd(0.05f), rows, width);
      check_dense_against_plain_loop(Adagrad(0.05f), rows, width);
      check_dense_against_plain_loop(Adam(0.01f), rows, width);
      check_dense_against_plain_loop(RowwiseAdagrad(0.05f), rows, width);
    }
  }
}

TEST_CASE("a NaN or Inf gradient is refused and changes nothing", "[optim]") {
  Fixture f;
  Adam adam(0.01f);
  f.set_sparse({0, 1}, {1.0f, 1.0f, 1.0f, 1.0f});
  adam.step(f.grads);
  const std::vector<float> state_before = *adam.state(f.param);
  const float w_before = f.param.row(0)[0];
  f.set_sparse({0, 1}, {1.0f, 1.0f, std::nanf(""), 1.0f});
  CHECK_THROWS_AS(adam.step(f.grads), NonFiniteGradient);
  CHECK_THROWS_WITH(adam.step(f.grads), Catch::Contains("'w'") && Catch::Contains("nothing was changed"));
  CHECK(f.param.row(0)[0] == w_before);
  CHECK(*adam.state(f.param) == state_before);
  CHECK(adam.steps() == 1);
  f.set_sparse({0}, {INFINITY, 0.0f});
  CHECK_THROWS_AS(Sgd(0.1f).step(f.grads), NonFiniteGradient);
}

TEST_CASE("updates go through an integer codec with unbiased rounding", "[optim]") {
  // Many int8 rows at 0 each get the same small SGD step of 0.004 (less than the scale 0.01):
  // stochastic rounding moves about 40% of the elements by one code, so the mean moves by 0.004.
  const Index rows = 4000;
  Parameter q("q", rows, 4, ParamKind::rows, CodecSpec{Codec::int8, ScaleMode::global, 0.01f, 0.0f});
  Gradients grads;
  SparseGrad& g = grads.sparse_for(q, rows);
  for (Index r = 0; r < rows; ++r) g.rows[r] = r;
  std::fill(g.values.begin(), g.values.end(), -0.004f);
  Sgd(1.0f).step(grads);
  double sum = 0.0;
  std::vector<float> row(4);
  for (Index r = 0; r < rows; ++r) {
    q.read_row(r, row.data());
    for (float v : row) {
      REQUIRE((v == 0.0f || v == Approx(0.01f)));
      sum += v;
    }
  }
  const double n = static_cast<double>(rows * 4);
  CHECK(sum / n == Approx(0.004).margin(5 * 0.005 / std::sqrt(n)));
}

TEST_CASE("a non-positive learning rate is rejected", "[optim]") {
  CHECK_THROWS_AS(Sgd(0.0f), InvalidArgument);
  CHECK_THROWS_AS(Adam(-1.0f), InvalidArgument);
}

TEST_CASE("one step over two gradient sets advances t once and refuses both on a NaN", "[optim]") {
  Fixture table, model;
  Adam adam(0.01f);
  table.set_sparse({0}, {1.0f, 1.0f});
  model.set_sparse({1}, {1.0f, 1.0f});
  adam.step({&table.grads, &model.grads});
  CHECK(adam.steps() == 1);
  // t = 1 for both: each moved by lr * sign(g).
  CHECK(table.param.row(0)[0] == Approx(-0.01f).margin(1e-6));
  CHECK(model.param.row(1)[0] == Approx(1.0f - 0.01f).epsilon(1e-6));
  model.set_sparse({1}, {std::nanf(""), 1.0f});
  const float before = table.param.row(0)[0];
  CHECK_THROWS_AS(adam.step({&table.grads, &model.grads}), NonFiniteGradient);
  CHECK(table.param.row(0)[0] == before);
  CHECK(adam.steps() == 1);
}

TEST_CASE("a parameter's lr_scale scales its step, method-updated parameters are refused",
          "[optim]") {
  Parameter scaled("s", 1, 2, ParamKind::dense, {}, ParamTraits{ParamRole::trained, 0.25f});
  Gradients grads;
  grads.dense_for(scaled).values = {1.0f, -2.0f};
  Sgd sgd(0.1f);
  sgd.step(grads);
  CHECK(scaled.data()[0] == Approx(-0.025f));  // w -= lr * 0.25 * g
  CHECK(scaled.data()[1] == Approx(0.05f));

  Parameter own("own", 1, 2, ParamKind::dense, {}, ParamTraits{ParamRole::method_updated});
  Gradients bad;
  bad.dense_for(own).values = {1.0f, 1.0f};
  CHECK_THROWS_AS(sgd.step(bad), std::logic_error);
  CHECK(own.data()[0] == 0.0f);
  Adam adam(0.1f);
  CHECK(adam.state_bytes(own) == 0);
  CHECK(adam.state_bytes(scaled) == 2 * 2 * sizeof(float));
}

TEST_CASE("forget and keep_only drop state, a reshaped parameter starts fresh", "[optim]") {
  Parameter keep("keep", 2, 2, ParamKind::dense);
  Parameter grow("grow", 2, 2, ParamKind::dense, {}, ParamTraits{ParamRole::trained, 1.0f, true});
  Gradients grads;
  grads.dense_for(keep).values = {1, 1, 1, 1};
  grads.dense_for(grow).values = {1, 1, 1, 1};
  Adam adam(0.1f);
  adam.step(grads);
  REQUIRE(adam.state(keep) != nullptr);
  REQUIRE(adam.state(grow) != nullptr);

  grow.reshape(3, 2);
  CHECK(adam.state(grow) == nullptr);  // keyed by the parameter's new id
  CHECK(adam.keep_only({&keep, &grow}) == 1);  // the old storage's state is dropped
  Gradients again;
  again.dense_for(grow).values.assign(6, 1.0f);
  adam.step(again);
  REQUIRE(adam.state(grow) != nullptr);
  CHECK(adam.state(grow)->size() == 2 * 6);

  adam.forget(keep);
  CHECK(adam.state(keep) == nullptr);
  CHECK(adam.steps() == 2);  // forgetting keeps the step count
}
