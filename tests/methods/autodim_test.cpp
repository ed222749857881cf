// autodim: the search's eval lookup against a plain reference, its training backward and
// alpha's validation update against finite differences, the warm starts, the retrain's
// storage within the budget, and a planted search whose right answer is known.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include "embcomp/methods/autodim.hpp"
#include "nn/gradient_check.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

const Schema kSchema{{300, 40, 7}, 8};  // candidates 1, 2, 4, 8

std::unique_ptr<AutoDimTable> make_autodim(const std::string& options = "", double ratio = 1.0,
                                           const Schema& schema = kSchema) {
  return make_method<AutoDimTable>("autodim" + options, {schema, Budget{ratio}, 3});
}

/// Search parameters and alpha set to values of order one (the init's are tiny), running
/// variances in [0.5, 1.5).
void spread_search_state(AutoDimTable& t, unsigned seed) {
  for (Parameter* p : t.parameters()) {
    if (p->name().rfind("search", 0) != 0 && p->name() != "alpha") continue;
    std::vector<float> v = random_values(p->size(), ++seed);
    if (p->name().ends_with(".norm")) {
      for (Index c = 0; c < p->width(); ++c) v[p->width() + c] = 1.0f + 0.5f * v[p->width() + c];
    }
    std::copy(v.begin(), v.end(), p->data());
  }
}

/// The eval-mode search output, written from the definition: P = softmax(alpha / tau) per
/// field, out = sum_k P[f][k] (R_k[r] W_k[f] + b_k[f] - mean_k) / sqrt(var_k + 1e-5).
std::vector<float> reference_search_lookup(const AutoDimTable& t, const std::vector<Index>& ids) {
  const Schema& s = t.schema();
  const Index F = s.num_fields(), D = t.dim();
  const auto& widths = t.candidates();
  const auto K = static_cast<Index>(widths.size());
  const std::vector<float> alpha = param_values(t, "alpha");
  std::vector<double> P(static_cast<std::size_t>(F * K));
  for (Index f = 0; f < F; ++f) {
    double z = 0.0;
    for (Index k = 0; k < K; ++k) z += std::exp(alpha[f * K + k] / t.temperature());
    for (Index k = 0; k < K; ++k) P[f * K + k] = std::exp(alpha[f * K + k] / t.temperature()) / z;
  }
  std::vector<float> out(ids.size() * static_cast<std::size_t>(D), 0.0f);
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index f = static_cast<Index>(p) % F;
    const Index r = s.field_offset(f) + ids[p];
    for (Index k = 0; k < K; ++k) {
      const std::string name = "search" + std::to_string(widths[k]);
      const Index w = widths[k];
      const auto R = param_values(t, name + ".rows"), W = param_values(t, name + ".weight");
      const auto b = param_values(t, name + ".bias"), norm = param_values(t, name + ".norm");
      for (Index j = 0; j < D; ++j) {
        double x = b[f * D + j];
        for (Index i = 0; i < w; ++i) x += double{R[r * w + i]} * W[(f * w + i) * D + j];
        const double h = (x - norm[j]) / std::sqrt(double{norm[D + j]} + 1e-5);
        out[p * D + j] += static_cast<float>(P[f * K + k] * h);
      }
    }
  }
  return out;
}

double weighted(const std::vector<float>& out, const std::vector<float>& w) {
  double sum = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) sum += double{out[i]} * w[i];
  return sum;
}

}  // namespace

TEST_CASE("autodim: the search's lookup is the eval-mode mixture of the candidates",
          "[methods][autodim]") {
  auto t = make_autodim(":temperature_decay=1e-3");
  spread_search_state(*t, 10);
  // Some training samples seen: tau = 1 - 1e-3 * samples.
  for (int i = 0; i < 2; ++i) {
    train_forward(*t, random_ids(kSchema, 64, 20 + static_cast<unsigned>(i)));
    t->after_step({});
  }
  CHECK(t->temperature() == Approx(1.0 - 1e-3 * 128));
  const auto ids = random_ids(kSchema, 40, 7);
  const auto expected = reference_search_lookup(*t, ids);
  const auto got = lookup(*t, ids);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).margin(1e-5));
  CHECK_FALSE(t->exact_gradient());
  CHECK_FALSE(t->forward_matches_lookup());
}

TEST_CASE("autodim: the search's backward is the gradient of the training forward, by finite differences",
          "[methods][autodim]") {
  auto t = make_autodim();
  spread_search_state(*t, 30);
  const auto ids = random_ids(kSchema, 16, 8);
  const auto w = random_values(ids.size() * 8, 9);
  const auto loss = [&] { return weighted(train_forward(*t, ids), w); };
  loss();
  Gradients grads;
  t->backward(batch_of(ids, kSchema), {w.data(), static_cast<Index>(ids.size()), 8}, grads);
  int checked = 0;
  for (Index width : t->candidates()) {
    for (const std::string part : {".rows", ".weight", ".bias"}) {
      Parameter& p = mutable_param(*t, "search" + std::to_string(width) + part);
      const std::vector<double> dense = densify(grads, &p);
      const std::vector<float> analytic(dense.begin(), dense.end());
      check_gradient(p.name(), {p.data(), p.size()}, analytic, loss, 1e-2f, 24);
      ++checked;
    }
  }
  CHECK(checked == 12);
  // alpha and the running statistics are not stepped by the optimizer: no gradient.
  for (const auto& g : grads.dense) CHECK(g.param->role() == ParamRole::trained);
  // The noise is drawn per step: the same step forwards the same, the next one differently.
  const auto before = train_forward(*t, ids);
  CHECK(train_forward(*t, ids) == before);
  t->after_step({});
  CHECK(train_forward(*t, ids) != before);
}

TEST_CASE("autodim: a validation batch steps alpha by the gradient of the lookup", "[methods][autodim]") {
  auto t = make_autodim(":alpha_lr=0.5");
  spread_search_state(*t, 40);
  const auto ids = random_ids(kSchema, 24, 11);
  const auto w = random_values(ids.size() * 8, 12);
  Parameter& alpha = mutable_param(*t, "alpha");
  const std::vector<float> before(alpha.data(), alpha.data() + alpha.size());
  std::vector<float> expected(before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {  // central differences of the lookup
    const float eps = 1e-2f;
    alpha.data()[i] = before[i] + eps;
    const double up = weighted(lookup(*t, ids), w);
    alpha.data()[i] = before[i] - eps;
    const double down = weighted(lookup(*t, ids), w);
    alpha.data()[i] = before[i];
    expected[i] = static_cast<float>(before[i] - 0.5 * (up - down) / (2.0 * eps));
  }
  t->on_validation_batch(batch_of(ids, kSchema), {w.data(), static_cast<Index>(ids.size()), 8});
  for (std::size_t i = 0; i < before.size(); ++i) {
    CHECK(alpha.data()[i] == Approx(expected[i]).margin(2e-4));
    CHECK(alpha.data()[i] != before[i]);
  }
  // After the search, validation batches change nothing.
  t->begin_stage(1);
  const std::vector<float> frozen(alpha.data(), alpha.data() + alpha.size());
  t->on_validation_batch(batch_of(ids, kSchema), {w.data(), static_cast<Index>(ids.size()), 8});
  CHECK(std::equal(frozen.begin(), frozen.end(), alpha.data()));
}

TEST_CASE("autodim: warm starts: folded keeps the chosen candidate's output, reference drops its BatchNorm",
          "[methods][autodim]") {
  const auto ids = random_ids(kSchema, 32, 13);
  for (const std::string warm : {"folded", "reference", "fresh"}) {
    INFO("warm_start " << warm);
    auto t = make_autodim(":warm_start=" + warm);
    spread_search_state(*t, 50);
    Parameter& alpha = mutable_param(*t, "alpha");
    const Index chosen = 1;  // width 2 for every field: P is one-hot to within 1e-20
    for (Index f = 0; f < 3; ++f) {
      for (Index k = 0; k < 4; ++k) alpha.row(f)[k] = k == chosen ? 50.0f : 0.0f;
    }
    const auto search = lookup(*t, ids);
    const auto stages = t->stages();
    REQUIRE(stages.size() == 2);
    CHECK(stages[1].reset_optimizer);
    CHECK(stages[1].reset_model == (warm == "fresh"));
    t->begin_stage(1);
    CHECK(t->chosen_widths() == std::vector<Index>{2, 2, 2});
    CHECK(t->exact_gradient());
    const auto retrain = lookup(*t, ids);
    double largest_gap = 0.0;
    for (std::size_t i = 0; i < search.size(); ++i) {
      largest_gap = std::max(largest_gap, double{std::fabs(search[i] - retrain[i])});
    }
    if (warm == "folded") {
      CHECK(largest_gap < 1e-4);
    } else {
      CHECK(largest_gap > 0.1);
    }
    const auto rows = param_values(*t, "field0.rows");
    REQUIRE(rows.size() == 300 * 2);
    float largest_row_value = 0.0f;
    for (float v : rows) largest_row_value = std::max(largest_row_value, std::fabs(v));
    // fresh: the init's U(+-b); else the chosen candidate's rows of field 0, of order one.
    CHECK((largest_row_value <= default_init_bound(kSchema)) == (warm == "fresh"));
    if (warm == "reference") {  // the layer without BatchNorm: x = h sqrt(var + eps) + mean
      const auto norm = param_values(*t, "search2.norm");
      for (std::size_t i = 0; i < search.size(); ++i) {
        const std::size_t j = i % 8;
        CHECK(retrain[i] == Approx(search[i] * std::sqrt(norm[8 + j] + 1e-5f) + norm[j]).margin(1e-4));
      }
    }
  }
}

TEST_CASE("autodim: the retrain holds only the chosen widths, within the budget, through checkpoints",
          "[methods][autodim]") {
  const Schema s{{4000, 600, 50, 7}, 8};
  for (double ratio : {1.0, 2.0, 5.0, 7.0}) {
    INFO("ratio " << ratio);
    auto t = make_autodim("", ratio, s);
    const std::size_t search_bytes = t->memory().training_bytes();
    CHECK(static_cast<double>(search_bytes) > 1.8 * static_cast<double>(s.total_rows() * 8 * 4));  // 15/8 of full
    Adam adam(0.01f);
    StageContext ctx{&adam, 4, {}};
    t->begin_stage(0, ctx);
    for (unsigned i = 0; i < 4; ++i) {  // a few search steps with validation batches
      const auto ids = random_ids(s, 64, 60 + i);
      Gradients g;
      train_forward(*t, ids);
      t->backward(batch_of(ids, s), {random_values(ids.size() * 8, i).data(), static_cast<Index>(ids.size()), 8}, g);
      adam.step(g);
      t->after_step({});
      const auto val = random_ids(s, 64, 70 + i);
      const auto dE = random_values(val.size() * 8, 80 + i);
      t->on_validation_batch(batch_of(val, s), {dE.data(), static_cast<Index>(val.size()), 8});
    }
    t->begin_stage(1, ctx);
    const MemoryReport m = t->memory();
    CHECK(static_cast<double>(m.serving_bytes) <= Budget{ratio}.bytes(s));
    double expected = 0.0;  // rows and layers of every field
    const auto widths = t->chosen_widths();
    for (Index f = 0; f < 4; ++f) expected += autodim::field_bytes(s, f, widths[f]);
    CHECK(static_cast<double>(m.serving_bytes) == expected);
    CHECK(m.training_bytes() < m.serving_bytes + 4096);  // the search storage is released

    std::stringstream file;
    t->save(file);
    auto loaded = load_table(file);
    const auto ids = random_ids(s, 50, 90);
    CHECK(lookup(*loaded, ids) == lookup(*t, ids));
    CHECK(dynamic_cast<AutoDimTable&>(*loaded).chosen_widths() == widths);
  }
}

TEST_CASE("autodim: finalize during the search serves the chosen widths", "[methods][autodim]") {
  auto t = make_autodim("", 4.0);
  REQUIRE(t->searching());
  t->finalize();
  CHECK_FALSE(t->searching());
  CHECK(static_cast<double>(t->memory().serving_bytes) <= Budget{4.0}.bytes(kSchema));
  auto frozen = t->freeze();
  const auto ids = random_ids(kSchema, 30, 3);
  CHECK(lookup(*frozen, ids) == lookup(*t, ids));
}

TEST_CASE("autodim: the search picks the candidate that carries the signal, on a planted task",
          "[methods][autodim]") {
  // Candidate 1 (width 2) carries the planted effects: its row's first entry is effect / d,
  // its layer spreads that entry over all d outputs and its BatchNorm is the identity, so the
  // probe's logit sum over entries is the planted logit. The other candidates are noise. Only
  // alpha moves (validation batches, as the trainer feeds them): the search must find width 2,
  // neither the narrowest nor the widest.
  const Schema s{{200, 150, 90}, 4};
  PlantedTask task(s, 21);
  auto t = make_autodim(":alpha_lr=0.5", 1.0, s);
  spread_search_state(*t, 60);
  const Index D = 4, informative = 1, w = 2;
  Parameter& rows = mutable_param(*t, "search2.rows");
  Parameter& weight = mutable_param(*t, "search2.weight");
  std::fill_n(rows.data(), rows.size(), 0.0f);
  std::fill_n(weight.data(), weight.size(), 0.0f);
  std::fill_n(mutable_param(*t, "search2.bias").data(), 3 * D, 0.0f);
  Parameter& norm = mutable_param(*t, "search2.norm");
  for (Index j = 0; j < D; ++j) norm.row(0)[j] = 0.0f, norm.row(1)[j] = 1.0f - 1e-5f;
  for (Index f = 0; f < 3; ++f) {
    for (Index id = 0; id < s.cardinalities[f]; ++id) rows.row(s.field_offset(f) + id)[0] = task.effect(f, id) / D;
    for (Index j = 0; j < D; ++j) weight.row(f * w)[j] = 1.0f;
  }
  Parameter& alpha = mutable_param(*t, "alpha");
  std::fill_n(alpha.data(), alpha.size(), 0.0f);
  std::vector<Index> ids;
  std::vector<float> labels;
  const Index batch = 128;
  for (std::uint64_t i = 0; i < 300; ++i) {
    task.sample(batch, i, ids, labels);
    const auto out = lookup(*t, ids);
    std::vector<float> dE(out.size());
    for (Index b = 0; b < batch; ++b) {
      double logit = 0.0;
      for (Index e = 0; e < 3 * D; ++e) logit += out[b * 3 * D + e];
      const auto g = static_cast<float>((1.0 / (1.0 + std::exp(-logit)) - labels[b]) / batch);
      std::fill_n(dE.begin() + b * 3 * D, 3 * D, g);
    }
    t->on_validation_batch(batch_of(ids, s), {dE.data(), batch * 3, D});
  }
  for (Index f = 0; f < 3; ++f) {
    INFO("field " << f << " alpha " << alpha.row(f)[0] << " " << alpha.row(f)[1] << " "
                  << alpha.row(f)[2]);
    const float* a = alpha.row(f);
    CHECK(std::max_element(a, a + 3) - a == informative);
  }
  t->begin_stage(1);
  CHECK(t->chosen_widths() == std::vector<Index>{2, 2, 2});
}
