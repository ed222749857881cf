// pep: sizing from the budget, the soft threshold and its gradients against a plain per-entry
// reference for every threshold sharing, the reference init's dead thresholds, the stage end
// at the target sparsity, the mask cut to the budget, the rewind, and the sparse serving form.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "embcomp/methods/deeplight.hpp"
#include "embcomp/methods/pep.hpp"
#include "embcomp/optim/sgd.hpp"
#include "embcomp/serving/sparse_table.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<PepTable> make_pep(const std::string& options, double ratio,
                                   Schema schema = small_schema()) {
  return make_method<PepTable>("pep" + options, {schema, Budget{ratio}, 3});
}

/// The threshold logit of entry (r, c) for each sharing, read plainly from "threshold".
float logit_of(const std::vector<float>& s, const std::string& kind, Index r, Index c, Index d) {
  if (kind == "feature_dimension") return s[static_cast<std::size_t>(r * d + c)];
  if (kind == "feature") return s[static_cast<std::size_t>(r)];
  if (kind == "dimension") return s[static_cast<std::size_t>(c)];
  return s[0];
}

float plain_sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

Index nonzeros_in(const std::vector<float>& v) {
  return static_cast<Index>(std::count_if(v.begin(), v.end(), [](float x) { return x != 0.0f; }));
}

}  // namespace

TEST_CASE("pep: the budget buys the nonzeros deeplight's does", "[methods][pep]") {
  for (double ratio : {2.0, 8.0, 100.0}) {
    INFO("ratio " << ratio);
    const auto t = make_pep("", ratio);
    const auto d = make_method<DeepLightTable>("deeplight", {small_schema(), Budget{ratio}, 3});
    CHECK(t->target_nonzeros() == d->target_nonzeros());
    CHECK(t->target_sparsity() == Approx(d->target_rate()));
  }
  CHECK_THROWS_AS(make_pep("", 1e5), InfeasibleBudget);
}

TEST_CASE("pep: lookup and backward of the soft threshold against a plain per-entry reference",
          "[methods][pep]") {
  const Schema s = small_schema();
  const Index d = s.dim;
  // A threshold near the init's scale (0.03 here): about half the entries are cut.
  for (const std::string kind : {"feature_dimension", "feature", "dimension", "global"}) {
    INFO(kind);
    auto t = make_pep(":threshold_init=-3.5,threshold=" + kind, 4.0);
    t->begin_stage(0);
    // Spread the logits so that entries sharing nothing get different thresholds.
    auto& logits = const_cast<Parameter&>(*param_named(*t, "threshold"));
    for (std::size_t i = 0; i < logits.size(); ++i) logits.data()[i] += 0.01f * static_cast<float>(i % 7);
    const std::vector<float> v = param_values(*t, "rows");
    const std::vector<float> sv = param_values(*t, "threshold");
    const auto offsets = s.field_offsets();

    const std::vector<Index> ids = random_ids(s, 64, 5);
    const std::vector<float> out = lookup(*t, ids);
    const std::vector<float> dE = random_values(out.size(), 6);
    const Gradients grads = backward_of(*t, ids, dE);
    std::vector<double> dv(v.size(), 0.0), ds(sv.size(), 0.0);
    Index cut = 0;
    for (std::size_t p = 0; p < ids.size(); ++p) {
      const Index r = offsets[static_cast<Index>(p) % s.num_fields()] + ids[p];
      for (Index c = 0; c < d; ++c) {
        const float x = v[static_cast<std::size_t>(r * d + c)];
        const float th = plain_sigmoid(logit_of(sv, kind, r, c, d));
        const bool active = std::fabs(x) > th;
        const float expected = active ? (x > 0 ? x - th : x + th) : 0.0f;
        CHECK(out[p * d + c] == Approx(expected).margin(1e-7));
        cut += !active;
        const double g = dE[p * d + c];
        if (!active) continue;
        dv[static_cast<std::size_t>(r * d + c)] += g;
        const Index si = kind == "feature_dimension" ? r * d + c : kind == "feature" ? r
                       : kind == "dimension" ? c : 0;
        ds[static_cast<std::size_t>(si)] += -(x > 0 ? 1.0 : -1.0) * th * (1.0 - th) * g;
      }
    }
    CHECK(cut > 0);
    CHECK(cut < static_cast<Index>(ids.size()) * d);
    const auto got_v = densify(grads, param_named(*t, "rows"));
    const auto got_s = densify(grads, param_named(*t, "threshold"));
    for (std::size_t i = 0; i < dv.size(); ++i) REQUIRE(got_v[i] == Approx(dv[i]).margin(1e-5));
    for (std::size_t i = 0; i < ds.size(); ++i) REQUIRE(got_s[i] == Approx(ds[i]).margin(1e-5));
  }
}

TEST_CASE("pep: the pruning stage's gradients against finite differences clear of the kinks",
          "[methods][pep]") {
  // The conformance suite's step (1e-2) crosses the kinks |v| = sigmoid(s) (exact_gradient()
  // is false in this stage); here each entry is nudged by less than its distance to its kink.
  const Schema s = small_schema();
  const Index d = s.dim;
  for (const std::string kind : {"feature_dimension", "global"}) {
    INFO(kind);
    auto t = make_pep(":threshold_init=-4,threshold=" + kind, 4.0);
    t->begin_stage(0);
    const std::vector<Index> ids = random_ids(s, 16, 21);
    const std::vector<float> w = random_values(ids.size() * static_cast<std::size_t>(d), 22);
    const auto weighted_sum = [&] {
      const std::vector<float> out = lookup(*t, ids);
      double sum = 0.0;
      for (std::size_t i = 0; i < out.size(); ++i) sum += static_cast<double>(out[i]) * w[i];
      return sum;
    };
    const Gradients grads = backward_of(*t, ids, w);
    int checked = 0;
    for (const std::string name : {"rows", "threshold"}) {
      auto& param = const_cast<Parameter&>(*param_named(*t, name));
      const auto analytic = densify(grads, &param);
      const std::vector<float> v = param_values(*t, "rows");
      const std::vector<float> logits = param_values(*t, "threshold");
      for (std::size_t i = 0; i < analytic.size(); ++i) {
        if (analytic[i] == 0.0) continue;  // not read, or cut
        // The distance to the nearest kink bounds the nudge: entries of v sharing the nudged
        // value's threshold (the whole table for a global one) must not cross theirs.
        float clearance = INFINITY;
        for (std::size_t e = 0; e < v.size(); ++e) {
          const Index er = static_cast<Index>(e) / d, ec = static_cast<Index>(e) % d;
          const bool shares = name == "rows" ? e == i : (kind == "global" || static_cast<std::size_t>(er * d + ec) == i);
          if (!shares) continue;
          clearance = std::min(clearance, std::fabs(std::fabs(v[e]) - plain_sigmoid(logit_of(logits, kind, er, ec, d))));
        }
        // Near s = -4, dt/ds = t (1 - t) < 0.02.
        const float eps = name == "rows" ? 0.25f * clearance : 0.25f * clearance / 0.02f;
        if (!(eps > 1e-5f)) continue;
        float* x = param.data() + i;
        const float saved = *x;
        *x = saved + eps;
        const double up = weighted_sum();
        *x = saved - eps;
        const double down = weighted_sum();
        *x = saved;
        const double slope = (up - down) / (2.0 * static_cast<double>(eps));
        CHECK(analytic[i] == Approx(slope).margin(2e-3).epsilon(2e-3));
        if (++checked > 60) break;
      }
    }
    CHECK(checked > 20);
  }
}

TEST_CASE("pep: the reference's threshold_init=-150 never prunes: sigmoid and its derivative "
          "are exactly 0 in fp32",
          "[methods][pep]") {
  auto t = make_pep(":threshold_init=-150", 8.0);
  t->begin_stage(0);
  const std::vector<Index> ids = random_ids(t->schema(), 256, 1);
  const std::vector<float> dE = random_values(ids.size() * t->dim(), 2);
  Sgd sgd(100.0f);
  for (int step = 0; step < 5; ++step) {
    Gradients grads = backward_of(*t, ids, dE);
    for (double g : densify(grads, param_named(*t, "threshold"))) REQUIRE(g == 0.0);
    sgd.step(grads);
  }
  t->after_step({5, 0, 0.0, &sgd, 5, 10, /*evaluation_follows=*/true});
  CHECK(t->sparsity() == 0.0);
  for (float s : param_values(*t, "threshold")) REQUIRE(s == -150.0f);
  // The default init's thresholds move.
  auto moved = make_pep("", 8.0);
  moved->begin_stage(0);
  Gradients grads = backward_of(*moved, ids, dE);
  const auto g = densify(grads, param_named(*moved, "threshold"));
  CHECK(std::any_of(g.begin(), g.end(), [](double x) { return x != 0.0; }));
}

TEST_CASE("pep: the pruning stage ends at the target sparsity, measured when the trainer "
          "validates",
          "[methods][pep]") {
  auto t = make_pep(":threshold_init=0", 8.0);  // threshold 0.5, above every |v| (<= 0.032)
  REQUIRE(t->stages().size() == 2);
  CHECK_FALSE(t->stages()[0].early_stopping);
  CHECK(t->stages()[1].reset_model);
  CHECK(t->stages()[1].reset_optimizer);
  t->begin_stage(0);
  Sgd sgd(0.1f);
  t->after_step({1, 0, 0.0, &sgd, 1, 10});  // not followed by validation: not measured
  CHECK(t->sparsity() == 0.0);
  CHECK_FALSE(t->stage_done());
  t->after_step({2, 0, 0.0, &sgd, 2, 10, /*evaluation_follows=*/true});
  CHECK(t->sparsity() == 1.0);
  CHECK(t->stage_done());

  auto mild = make_pep("", 8.0);  // threshold sigmoid(-8) = 3.4e-4: about 1% of entries
  mild->begin_stage(0);
  mild->after_step({1, 0, 0.0, &sgd, 1, 10, true});
  CHECK(mild->sparsity() > 0.0);
  CHECK(mild->sparsity() < mild->target_sparsity());
  CHECK_FALSE(mild->stage_done());
}

TEST_CASE("pep: the retrain's mask keeps the largest thresholded entries the budget buys, the "
          "table rewinds, masked entries stay out",
          "[methods][pep]") {
  for (const std::string rewind : {"original", "fresh"}) {
    INFO(rewind);
    auto t = make_pep(":threshold_init=-5,rewind=" + rewind, 8.0);
    const std::vector<float> initial = param_values(*t, "rows");
    t->begin_stage(0);
    // Train a little so that the table is no longer its init.
    Sgd sgd(0.05f);
    const std::vector<Index> ids = random_ids(t->schema(), 128, 9);
    for (int step = 0; step < 3; ++step) {
      Gradients grads = backward_of(*t, ids, random_values(ids.size() * t->dim(), 10 + step));
      sgd.step(grads);
    }
    std::vector<float> expected_mask = all_embeddings(*t);  // the thresholded table
    kernels::prune_smallest_reference(expected_mask.data(),
                                      static_cast<Index>(expected_mask.size()),
                                      static_cast<Index>(expected_mask.size()) - t->target_nonzeros());
    t->begin_stage(1);
    CHECK(t->mask_nonzeros() == std::min(t->target_nonzeros(), nonzeros_in(expected_mask)));
    const std::vector<float> v = param_values(*t, "rows");
    CHECK((v == initial) == (rewind == "original"));
    CHECK(param_named(*t, "threshold")->size() == 1);  // dropped
    // e = v * mask.
    const std::vector<float> e = all_embeddings(*t);
    for (std::size_t i = 0; i < e.size(); ++i) {
      REQUIRE(e[i] == (expected_mask[i] != 0.0f ? v[i] : 0.0f));
    }
    // Masked entries get no gradient.
    const std::vector<float> dE(ids.size() * t->dim(), 1.0f);
    const Gradients grads = backward_of(*t, ids, dE);
    const auto dv = densify(grads, param_named(*t, "rows"));
    for (std::size_t i = 0; i < dv.size(); ++i) {
      if (expected_mask[i] == 0.0f) REQUIRE(dv[i] == 0.0);
    }
    CHECK(std::any_of(dv.begin(), dv.end(), [](double g) { return g != 0.0; }));

    // finalize serves v * mask within the budget; the frozen form loads as sparse rows.
    t->finalize();
    CHECK(all_embeddings(*t) == e);
    const MemoryReport m = t->memory();
    CHECK(static_cast<double>(m.serving_bytes) <= t->budget().bytes(t->schema()));
    auto frozen = t->freeze();
    CHECK(frozen->spec() == "sparse:of=pep");
    std::stringstream file;
    frozen->save(file);
    auto loaded = load_table(file);
    CHECK(dynamic_cast<SparseServingTable*>(loaded.get()) != nullptr);
    CHECK(all_embeddings(*loaded) == e);
  }
}

TEST_CASE("pep: finalize without a retrain serves the thresholded table cut to the budget",
          "[methods][pep]") {
  auto t = make_pep(":threshold_init=-5", 8.0);
  t->begin_stage(0);
  std::vector<float> expected = all_embeddings(*t);
  kernels::prune_smallest_reference(expected.data(), static_cast<Index>(expected.size()),
                                    static_cast<Index>(expected.size()) - t->target_nonzeros());
  t->finalize();
  CHECK(all_embeddings(*t) == expected);
  CHECK(nonzeros_in(expected) <= t->target_nonzeros());
}

TEST_CASE("pep: bad options are refused", "[methods][pep]") {
  CHECK_THROWS_AS(make_pep(":threshold=row", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_pep(":threshold_init=nan", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_pep(":threshold_lr=0", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_pep(":prune=0", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_pep(":retrain=-1", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_pep(":rewind=later", 2.0), InvalidArgument);
}
