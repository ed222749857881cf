// autodim's supernet (methods/autodim_search.hpp) on its own: the eval lookup against a
// written-out mixture, the training backward against finite differences of the training
// forward (batch statistics), and the running statistics it moves.
#include <catch2/catch.hpp>

#include <cmath>
#include <deque>

#include "nn/gradient_check.hpp"
#include "embcomp/methods/autodim_search.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Fields {30, 12} stacked, d = 4, candidates of width 1 and 4, values from random_values;
/// running variances in [0.5, 1.5).
struct Fixture {
  Schema schema{{30, 12}, 4};
  std::deque<Parameter> params;
  autodim::SearchNet net{schema.field_offsets(), 4};
  std::vector<float> P{0.3f, 0.7f, 0.9f, 0.1f};  // [F x K]

  Parameter& add(const std::string& name, Index rows, Index width, ParamKind kind) {
    return add_random_param(params, name, rows, width, kind);
  }

  Fixture() {
    for (Index w : {1, 4}) {
      const std::string n = w == 1 ? "s1" : "s4";
      autodim::Candidate& c = net.candidates().emplace_back();
      c.width = w;
      c.rows = &add(n + ".rows", 42, w, ParamKind::rows);
      c.weight = &add(n + ".weight", 2 * w, 4, ParamKind::dense);
      c.bias = &add(n + ".bias", 2, 4, ParamKind::dense);
      c.norm = &add(n + ".norm", 2, 4, ParamKind::dense);
      for (Index j = 0; j < 4; ++j) c.norm->row(1)[j] = 1.0f + 0.5f * c.norm->row(1)[j];
    }
  }
};

}  // namespace

TEST_CASE("autodim search net: the eval lookup is the P-weighted mixture of normalised candidates",
          "[methods][autodim]") {
  Fixture fx;
  const auto ids = random_ids(fx.schema, 20, 1);
  const IdBatch batch = batch_of(ids, fx.schema);
  std::vector<float> out(ids.size() * 4);
  fx.net.lookup(batch, fx.P, {out.data(), batch.size(), 4});
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index f = static_cast<Index>(p % 2), r = fx.schema.field_offset(f) + ids[p];
    for (Index j = 0; j < 4; ++j) {
      double expected = 0.0;
      for (Index k = 0; k < 2; ++k) {
        const autodim::Candidate& c = fx.net.candidates()[k];
        double x = c.bias->row(f)[j];
        for (Index i = 0; i < c.width; ++i) x += double{c.rows->row(r)[i]} * c.weight->row(f * c.width + i)[j];
        expected += fx.P[f * 2 + k] * (x - c.norm->row(0)[j]) / std::sqrt(double{c.norm->row(1)[j]} + 1e-5);
      }
      CHECK(out[p * 4 + j] == Approx(expected).margin(1e-5));
    }
  }
}

TEST_CASE("autodim search net: the backward is the gradient of the training forward", "[methods][autodim]") {
  Fixture fx;
  const auto ids = random_ids(fx.schema, 12, 2);
  const IdBatch batch = batch_of(ids, fx.schema);
  const auto w = random_values(ids.size() * 4, 3);
  std::vector<float> out(ids.size() * 4);
  const auto loss = [&] {
    fx.net.train_forward(batch, fx.P, out.data(), /*update_running=*/false);
    double sum = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) sum += double{out[i]} * w[i];
    return sum;
  };
  Gradients grads;
  fx.net.backward(batch, fx.P, {w.data(), batch.size(), 4}, grads);
  for (autodim::Candidate& c : fx.net.candidates()) {
    for (Parameter* p : {c.rows, c.weight, c.bias}) {
      const std::vector<double> dense = densify(grads, p);
      check_gradient(p->name(), {p->data(), p->size()}, std::vector<float>(dense.begin(), dense.end()), loss,
                     1e-2f, 24);
    }
  }
  // A training forward that moves the running statistics moves them toward the batch's.
  const std::vector<float> before(fx.net.candidates()[1].norm->data(), fx.net.candidates()[1].norm->data() + 8);
  fx.net.train_forward(batch, fx.P, out.data(), /*update_running=*/true);
  const float* after = fx.net.candidates()[1].norm->data();
  for (Index j = 0; j < 8; ++j) CHECK(after[j] != before[j]);
}
