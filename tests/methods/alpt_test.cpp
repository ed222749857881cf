// alpt: sizing (codes + one step per row), the optimizer's fused step against a naive twin (SGD
// and Adam), the LSQ derivative by its definition, step sizes that grow when rows saturate,
// checkpoints of the steps, and the one-pass step gradient against the reference's second pass.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "embcomp/data/batch.hpp"
#include "embcomp/data/split.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/nn/loss.hpp"
#include "embcomp/optim/sgd.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

Parameter& rows_of(EmbeddingTable& t) { return *t.parameters().front(); }

/// Naive LSQ derivative of round(w / s) s with respect to s (round half up, clamped codes).
double naive_lsq(double w, double s, int bits) {
  const double qn = -std::pow(2.0, bits - 1), qp = std::pow(2.0, bits - 1) - 1;
  const double v = w / s;
  if (v <= qn) return qn;
  if (v >= qp) return qp;
  return std::floor(v + 0.5) - v;
}

/// Naive step gradient of one row: sum_c g_c lsq(w'_c) / sqrt(d Qp).
double naive_step_gradient(const std::vector<double>& w, const float* g, double s, int bits) {
  double sum = 0.0;
  for (std::size_t c = 0; c < w.size(); ++c) sum += g[c] * naive_lsq(w[c], s, bits);
  return sum / std::sqrt(static_cast<double>(w.size()) * (std::pow(2.0, bits - 1) - 1));
}

}  // namespace

TEST_CASE("alpt: codes plus one fp32 step per row, about 3.2x (int8) or 1.78x (int16)",
          "[methods][alpt]") {
  const Schema s = small_schema(16);
  auto int8 = make_table("alpt", {s, Budget{3.0}, 1});
  CHECK(int8->memory().serving_bytes == static_cast<std::size_t>(s.total_rows() * (16 + 4)));
  CHECK(int8->memory().ratio() == Approx(3.2));
  auto int16 = make_table("alpt:bits=16", {s, Budget{1.7}, 1});
  CHECK(int16->memory().serving_bytes == static_cast<std::size_t>(s.total_rows() * (32 + 4)));
  CHECK_THROWS_WITH(make_table("alpt", {s, Budget{3.3}, 1}), Catch::Contains("highest ratio it reaches for this schema is 3.2000"));
  // Adam's state covers every element and every row's step: 2 slots of (N d + N) floats.
  Adam adam(1e-3f);
  CHECK(int8->memory(&adam).optimizer_bytes ==
        static_cast<std::size_t>(2 * 4 * (s.total_rows() * 16 + s.total_rows())));
}

TEST_CASE("alpt: bad options are refused", "[methods][alpt]") {
  const Schema s = small_schema();
  for (const char* spec : {"alpt:bits=4", "alpt:init_scale=0", "alpt:init_scale=nan", "alpt:step_lr=-1"}) {
    INFO(spec);
    CHECK_THROWS_AS(make_table(spec, {s, Budget{1.5}, 1}), InvalidArgument);
  }
}

TEST_CASE("alpt: the LSQ derivative is round(v) - v inside the range and the range's end outside",
          "[methods][alpt]") {
  for (int bits : {8, 16}) {
    for (float w : {0.0f, 0.013f, -0.013f, 0.0149f, 0.0151f, -0.0149f, 1.26f, 1.3f, -1.3f, 5.0f}) {
      INFO("bits " << bits << " w " << w);
      CHECK(kernels::lsq_step_derivative(w, 0.01f, bits) ==
            Approx(naive_lsq(w, 0.01, bits)).margin(1e-5));
    }
  }
  CHECK(kernels::lsq_step_derivative(2.0f, 0.01f, 8) == 127.0f);
  CHECK(kernels::lsq_step_derivative(-2.0f, 0.01f, 8) == -128.0f);
}

TEST_CASE("alpt: one optimizer step equals the naive step (SGD and Adam)", "[methods][alpt]") {
  const Schema s{{40, 9}, 8};
  const std::vector<Index> ids = {3, 2, 3, 8, 17, 2};  // row 3 of field 0 twice
  const auto dE = random_values(ids.size() * 8, 4);
  for (const std::string optimizer : {"sgd", "adam"}) {
    INFO(optimizer);
    // lr / step is not an integer (Adam's first step moves every element by lr exactly, which
    // would leave w' on the code grid, where LSQ's derivative is 0), and lr * step_lr < step.
    auto t = make_table("alpt:init_scale=0.002,step_lr=0.1", {s, Budget{2}, 7});
    Parameter& p = rows_of(*t);
    const int bits = p.codec().bits();
    const float lr = 0.0123f, step_lr = 0.1f;
    std::unique_ptr<Optimizer> opt;
    if (optimizer == "sgd") opt = std::make_unique<Sgd>(lr);
    else opt = std::make_unique<Adam>(lr);
    Gradients grads;
    t->backward(batch_of(ids, s), {dE.data(), static_cast<Index>(ids.size()), 8}, grads);
    const SparseGrad& g = grads.sparse.at(0);
    // The naive twin, from the state before the step (Adam's first step: m = (1-b1) g,
    // v = (1-b2) g^2, so the update is lr * g / (|g| + eps) up to rounding).
    std::vector<std::vector<double>> expected_w(g.rows.size());
    std::vector<double> expected_step(g.rows.size());
    for (std::size_t i = 0; i < g.rows.size(); ++i) {
      std::vector<float> row(8);
      p.read_row(g.rows[i], row.data());
      const double step = p.quantum(g.rows[i]);
      auto update = [&](double value, double grad, double rate) {
        if (optimizer == "sgd") return value - rate * grad;
        return value - rate * grad / (std::fabs(grad) + 1e-8);
      };
      for (int c = 0; c < 8; ++c) expected_w[i].push_back(update(row[c], g.row(static_cast<Index>(i))[c], lr));
      const double g_step = naive_step_gradient(expected_w[i], g.row(static_cast<Index>(i)), step, bits);
      expected_step[i] = update(step, g_step, lr * step_lr);
    }
    opt->step(grads);
    for (std::size_t i = 0; i < g.rows.size(); ++i) {
      const double step = p.quantum(g.rows[i]);
      CHECK(step == Approx(expected_step[i]).epsilon(1e-4));
      std::vector<float> row(8);
      p.read_row(g.rows[i], row.data());
      for (int c = 0; c < 8; ++c) {
        const double v = expected_w[i][static_cast<std::size_t>(c)] / step;
        const double code = row[static_cast<std::size_t>(c)] / step;
        CHECK(code == Approx(std::nearbyint(code)).margin(1e-3));
        // Stochastic rounding on the new step, saturated to the code range.
        const double low = std::clamp(std::floor(v), -128.0, 127.0);
        const double high = std::clamp(std::floor(v) + 1.0, -128.0, 127.0);
        CHECK(code >= low - 1e-3);
        CHECK(code <= high + 1e-3);
      }
    }
  }
}

TEST_CASE("alpt: a row pushed past its range grows its step", "[methods][alpt]") {
  // init_scale 1e-4 spans +-0.0127 in int8; a constant gradient pushes the row far beyond it.
  // A fixed step (int8 global) saturates; alpt's clipping gradient (Qp) grows the step.
  auto t = make_table("alpt:init_scale=0.0001,step_lr=1", {Schema{{4}, 2}, Budget{1}, 1});
  Parameter& p = rows_of(*t);
  const std::vector<Index> ids = {1};
  const std::vector<float> dE = {-1.0f, 1.0f};
  Gradients grads;
  Adam adam(0.01f);
  for (int i = 0; i < 200; ++i) {
    t->backward({ids.data(), 1, 1}, {dE.data(), 1, 2}, grads);
    adam.step(grads);
  }
  CHECK(p.quantum(1) > 1e-3);
  const auto out = lookup(*t, ids);
  CHECK(out[0] > 0.1f);
  CHECK(out[1] < -0.1f);
  CHECK(p.quantum(0) == 1e-4f);  // untouched rows keep their step
}

TEST_CASE("alpt: checkpoints keep the steps, and a damaged step is refused", "[methods][alpt]") {
  const Schema s = small_schema();
  auto t = make_table("alpt", {s, Budget{2}, 1});
  Parameter& p = rows_of(*t);
  for (Index r = 0; r < p.rows(); ++r) p.set_step(r, 0.001f * static_cast<float>(1 + r % 7));
  std::stringstream file;
  t->save(file);
  auto loaded = load_table(file);
  const auto ids = random_ids(s, 50, 3);
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
  CHECK(rows_of(*loaded).quantum(6) == 0.007f);

  p.set_step(3, -0.5f);
  std::stringstream damaged;
  t->save(damaged);
  CHECK_THROWS_WITH(load_table(damaged), Catch::Contains("row scale"));
}

TEST_CASE("alpt: the one-pass step gradient against the reference's second pass", "[methods][alpt]") {
  // The reference learns each step from a second model pass on round(w' / step) step with the
  // dense layers already updated; alpt uses the batch's own dE. Measured here on a DLRM step
  // (SGD, so that w' is known outside the optimizer): over the batch's rows, the cosine of the
  // two step-gradient vectors and the share of rows where their signs agree.
  SyntheticConfig config;
  config.cardinalities = {2000, 300, 40, 8};
  config.num_dense = 4;
  config.train_rows = 128 * 160;
  const SyntheticCtr data(config);
  const Schema schema = data.schema(16);
  auto table = make_table("alpt:init_scale=0.002", {schema, Budget{3}, 1});
  Parameter& p = rows_of(*table);
  ModelArgs model_args{4, 16, 4, 2, {32}, {32}};
  auto model = make_model("dlrm", model_args);
  const float lr = 0.05f;
  Sgd table_sgd(lr), model_sgd(lr);
  Batch batch;
  std::vector<float> E, E2, logits, dlogits, dE, dE2;
  Gradients table_grads, model_grads, model_grads2;
  double dot = 0.0, norm1 = 0.0, norm2 = 0.0;
  Index agree = 0, rows = 0;
  for (Index step = 0; step < 160; ++step) {
    data.read(SplitPart::train, step * 128, 128, batch);
    const IdBatch ids = batch.id_batch();
    const Index n = ids.size();
    E.resize(static_cast<std::size_t>(n * 16));
    dE.resize(E.size());
    logits.resize(128);
    dlogits.resize(128);
    table->forward(ids, {E.data(), n, 16});
    model->forward(batch, {E.data(), n, 16}, logits);
    nn::bce_with_logits(logits, batch.labels, dlogits);
    model->backward(dlogits, model_grads, {dE.data(), n, 16});
    table->backward(ids, {dE.data(), n, 16}, table_grads);
    model_sgd.step(model_grads);
    if (step >= 120) {  // measured after a warm-up
      const SparseGrad& g = table_grads.sparse.at(0);
      // w' of every touched row, and the reference's second pass on its rounded values.
      std::vector<std::vector<float>> updated(g.rows.size(), std::vector<float>(16));
      for (std::size_t i = 0; i < g.rows.size(); ++i) {
        p.read_row(g.rows[i], updated[i].data());
        for (int c = 0; c < 16; ++c) updated[i][static_cast<std::size_t>(c)] -= lr * g.row(static_cast<Index>(i))[c];
      }
      std::vector<Index> slot_of_row(static_cast<std::size_t>(p.rows()), -1);
      for (std::size_t i = 0; i < g.rows.size(); ++i) slot_of_row[static_cast<std::size_t>(g.rows[i])] = static_cast<Index>(i);
      const auto offsets = schema.field_offsets();
      E2.resize(E.size());
      dE2.resize(E.size());
      for (Index q = 0; q < n; ++q) {
        const Index r = offsets[static_cast<std::size_t>(ids.field_of(q))] + ids[q];
        const auto& w = updated[static_cast<std::size_t>(slot_of_row[static_cast<std::size_t>(r)])];
        const float s = p.quantum(r);
        for (int c = 0; c < 16; ++c) {
          const float code = std::fmin(std::fmax(std::floor(w[static_cast<std::size_t>(c)] / s + 0.5f), -128.0f), 127.0f);
          E2[static_cast<std::size_t>(q * 16 + c)] = code * s;
        }
      }
      model->forward(batch, {E2.data(), n, 16}, logits);
      nn::bce_with_logits(logits, batch.labels, dlogits);
      model->backward(dlogits, model_grads2, {dE2.data(), n, 16});
      std::vector<float> g2(g.rows.size() * 16, 0.0f);
      for (Index q = 0; q < n; ++q) {
        const Index r = offsets[static_cast<std::size_t>(ids.field_of(q))] + ids[q];
        const auto slot = static_cast<std::size_t>(slot_of_row[static_cast<std::size_t>(r)]);
        for (int c = 0; c < 16; ++c) g2[slot * 16 + static_cast<std::size_t>(c)] += dE2[static_cast<std::size_t>(q * 16 + c)];
      }
      for (std::size_t i = 0; i < g.rows.size(); ++i) {
        const float s = p.quantum(g.rows[i]);
        const double one = kernels::lsq_step_gradient(updated[i].data(), g.row(static_cast<Index>(i)), 16, s, 8);
        const double two = kernels::lsq_step_gradient(updated[i].data(), g2.data() + i * 16, 16, s, 8);
        dot += one * two, norm1 += one * one, norm2 += two * two;
        agree += (one > 0) == (two > 0) ? 1 : 0;
        ++rows;
      }
    }
    table_sgd.step(table_grads);
  }
  const double cosine = dot / std::sqrt(norm1 * norm2);
  const double sign_agreement = static_cast<double>(agree) / static_cast<double>(rows);
  std::printf("alpt one-pass vs two-pass step gradients over %lld rows: cosine %.4f, signs agree "
              "%.4f, norm ratio %.4f\n",
              static_cast<long long>(rows), cosine, sign_agreement, std::sqrt(norm1 / norm2));
  CHECK(cosine > 0.9);
  CHECK(sign_agreement > 0.9);
}
