// autosrh: frequency groups with ties, the alpha-weighted lookup and gradient against a plain
// reference, the search's alpha update on validation batches (normalised, L1, clipped), the
// prune-first retrain under the mask and the reference's order, and the sparse serving form.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include "embcomp/methods/autosrh.hpp"
#include "embcomp/optim/sgd.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<AutoSrhTable> make_autosrh(const std::string& options, double ratio,
                                           Schema schema = small_schema()) {
  return make_method<AutoSrhTable>("autosrh" + options, {schema, Budget{ratio}, 3});
}

/// E * alpha[g(r)] from the stored values, [N x d].
std::vector<float> weighted(const AutoSrhTable& t) {
  const std::vector<float> e = param_values(t, "rows"), a = param_values(t, "alpha");
  const Index d = t.dim();
  std::vector<float> out(e.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    const Index r = static_cast<Index>(i) / d, c = static_cast<Index>(i) % d;
    out[i] = e[i] * a[static_cast<std::size_t>(t.group_of_row(r) * d + c)];
  }
  return out;
}

/// Alpha values spread over (0, 1) so that groups and dimensions differ.
void spread_alpha(AutoSrhTable& t) {
  Parameter& a = mutable_param(t, "alpha");
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = 0.2f + 0.7f * static_cast<float>((i * 37) % 11) / 10.0f;
}

/// Runs the stages before `stage` (3 random steps each) and begins `stage`.
void enter_stage(AutoSrhTable& t, std::size_t stage, Optimizer& opt) {
  for (std::size_t s = 0; s <= stage; ++s) {
    t.begin_stage(s, StageContext{&opt, 3, {}});
    opt.keep_only(std::as_const(t).parameters());
    if (s == stage) break;
    for (unsigned i = 0; i < 3; ++i) {
      const auto ids = random_ids(t.schema(), 64, 40 + i);
      Gradients g = backward_of(t, ids, random_values(ids.size() * t.dim(), 50 + i));
      opt.step(g);
    }
  }
}

}  // namespace

TEST_CASE("autosrh: frequency groups cut the count order, ties kept together", "[methods][autosrh]") {
  // Rows r0..r4 (field 0) and r5..r7 (field 1); ascending counts: r7 0, r3 1, r4 2, r5 3, r6 3,
  // r0 5, r1 5, r2 5. Three groups: the first cut at 3 rows; the second at 3 of the 5 left,
  // moved past the tie of 5s to the end; no rows are left for the third.
  const Schema schema{{5, 3}, 4};
  auto counts = std::make_shared<IdCounts>(IdCounts{{5, 5, 5, 1, 2}, {3, 3, 0}});
  const TableArgs args{schema, Budget{1.0}, 1, counts};
  const std::vector<std::uint8_t> expected = {1, 1, 1, 0, 0, 1, 1, 0};
  CHECK(AutoSrhTable::frequency_groups(args, 3) == expected);
  CHECK(AutoSrhTable::frequency_groups(args, 1) == std::vector<std::uint8_t>(8, 0));
  // Without counts, the ranks: n_f - id. Field 0's ids 0..4 count 5..1, field 1's 3..1.
  const TableArgs ranks{schema, Budget{1.0}, 1};
  CHECK(AutoSrhTable::frequency_groups(ranks, 2) == std::vector<std::uint8_t>{1, 1, 1, 0, 0, 1, 0, 0});
  // Groups of nearly equal size without ties.
  std::vector<std::uint64_t> many(100);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = 1000 - i;
  const TableArgs distinct{Schema{{100}, 4}, Budget{1.0}, 1, std::make_shared<IdCounts>(IdCounts{many})};
  const auto g = AutoSrhTable::frequency_groups(distinct, 6);
  for (int group = 0; group < 6; ++group) {
    const auto size = std::count(g.begin(), g.end(), group);
    CHECK((size == 16 || size == 17));
  }
  CHECK(g.front() == 5);  // id 0, the most frequent, in the last group
  CHECK(g.back() == 0);
}

TEST_CASE("autosrh: lookup and backward weight each row by its group's alpha", "[methods][autosrh]") {
  auto t = make_autosrh("", 4.0);
  Sgd sgd(0.1f);
  enter_stage(*t, 1, sgd);  // search
  spread_alpha(*t);
  const Schema& s = t->schema();
  const Index d = s.dim;
  const auto ids = random_ids(s, 64, 3);
  const std::vector<float> w = weighted(*t);
  const std::vector<float> a = param_values(*t, "alpha");
  const auto offsets = s.field_offsets();
  const std::vector<float> out = lookup(*t, ids);
  const std::vector<float> dE = random_values(out.size(), 4);
  const auto grads = densify(backward_of(*t, ids, dE), param_named(*t, "rows"));
  std::vector<double> expected(grads.size(), 0.0);
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index r = offsets[static_cast<Index>(p) % s.num_fields()] + ids[p];
    for (Index c = 0; c < d; ++c) {
      REQUIRE(out[p * d + c] == w[static_cast<std::size_t>(r * d + c)]);
      expected[static_cast<std::size_t>(r * d + c)] +=
          static_cast<double>(dE[p * d + c]) * a[static_cast<std::size_t>(t->group_of_row(r) * d + c)];
    }
  }
  for (std::size_t i = 0; i < grads.size(); ++i) REQUIRE(grads[i] == Approx(expected[i]).margin(1e-6));
  CHECK(param_named(*t, "alpha")->role() == ParamRole::method_updated);
}

TEST_CASE("autosrh: the search updates alpha from a validation batch: normalised per group, "
          "L1, clipped to [0, 1]",
          "[methods][autosrh]") {
  auto t = make_autosrh(":alpha_lr=0.05,alpha_l1=0.01", 4.0);
  Sgd sgd(0.1f);
  const Schema& s = t->schema();
  const Index d = s.dim;
  const auto ids = random_ids(s, 32, 8);
  const std::vector<float> dE = random_values(ids.size() * static_cast<std::size_t>(d), 9);
  const IdBatch batch = batch_of(ids, s);

  enter_stage(*t, 0, sgd);  // warm-up: validation batches change nothing
  const std::vector<float> before = param_values(*t, "alpha");
  t->on_validation_batch(batch, {dE.data(), batch.size(), d});
  CHECK(param_values(*t, "alpha") == before);

  enter_stage(*t, 1, sgd);
  spread_alpha(*t);
  Parameter& alpha = mutable_param(*t, "alpha");
  alpha.data()[0] = 0.0f;    // at the lower clip: no L1 push
  alpha.data()[1] = 0.999f;  // near the upper clip
  const std::vector<float> a = param_values(*t, "alpha");
  const std::vector<float> e = param_values(*t, "rows");
  const auto offsets = s.field_offsets();
  std::vector<double> g(a.size(), 0.0);
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index r = offsets[static_cast<Index>(p) % s.num_fields()] + ids[p];
    for (Index c = 0; c < d; ++c) {
      g[static_cast<std::size_t>(t->group_of_row(r) * d + c)] +=
          static_cast<double>(dE[p * d + c]) * e[static_cast<std::size_t>(r * d + c)];
    }
  }
  std::vector<float> expected(a.size());
  for (Index group = 0; group < alpha.rows(); ++group) {
    double mean = 0.0;
    for (Index c = 0; c < d; ++c) {
      const auto i = static_cast<std::size_t>(group * d + c);
      if (a[i] > 0.0f) g[i] += 0.01;
      mean += std::fabs(g[i]) / static_cast<double>(d);
    }
    for (Index c = 0; c < d; ++c) {
      const auto i = static_cast<std::size_t>(group * d + c);
      expected[i] = static_cast<float>(std::clamp(a[i] - 0.05 * g[i] / (mean + 1e-8), 0.0, 1.0));
    }
  }
  t->on_validation_batch(batch, {dE.data(), batch.size(), d});
  const std::vector<float> after = param_values(*t, "alpha");
  for (std::size_t i = 0; i < after.size(); ++i) REQUIRE(after[i] == Approx(expected[i]).margin(1e-5));
  for (float x : after) REQUIRE((x >= 0.0f && x <= 1.0f));
  CHECK(after != a);
}

TEST_CASE("autosrh: prune_first folds alpha, keeps the largest weighted entries and retrains "
          "under the mask",
          "[methods][autosrh]") {
  auto t = make_autosrh("", 8.0);
  Sgd sgd(0.1f);
  enter_stage(*t, 1, sgd);
  spread_alpha(*t);
  const std::vector<float> folded = weighted(*t);
  // enter_stage runs the search's steps (E changes, alpha does not: no validation batches), so
  // the expected fold is taken from E after it.
  Sgd none(1e-30f);
  enter_stage(*t, 2, none);
  const std::vector<float> e = param_values(*t, "rows");
  CHECK(t->mask_nonzeros() == t->target_nonzeros());
  for (std::size_t i = 0; i < e.size(); ++i) REQUIRE(e[i] == Approx(folded[i]).margin(1e-6));
  const std::vector<float> looked_up = all_embeddings(*t);
  Index kept = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    REQUIRE((looked_up[i] == 0.0f || looked_up[i] == e[i]));
    kept += looked_up[i] != 0.0f;
  }
  CHECK(kept == t->target_nonzeros());
  // The kept entries are the largest |E| (alpha folded in).
  std::vector<float> largest = e;
  kernels::prune_smallest_reference(largest.data(), static_cast<Index>(largest.size()),
                                    static_cast<Index>(largest.size()) - t->target_nonzeros());
  CHECK(looked_up == largest);
  // Masked entries get no gradient.
  const auto ids = random_ids(t->schema(), 64, 5);
  const auto dv = densify(backward_of(*t, ids, std::vector<float>(ids.size() * t->dim(), 1.0f)),
                          param_named(*t, "rows"));
  for (std::size_t i = 0; i < dv.size(); ++i) {
    if (looked_up[i] == 0.0f) REQUIRE(dv[i] == 0.0);
  }
  t->finalize();
  CHECK(all_embeddings(*t) == looked_up);
  CHECK(static_cast<double>(t->memory().serving_bytes) <= t->budget().bytes(t->schema()));
  auto frozen = t->freeze();
  CHECK(frozen->spec() == "sparse:of=autosrh");
  std::stringstream file;
  frozen->save(file);
  CHECK(all_embeddings(*load_table(file)) == looked_up);
}

TEST_CASE("autosrh: order=reference retrains with alpha fixed and prunes only at finalize",
          "[methods][autosrh]") {
  auto t = make_autosrh(":order=reference", 8.0);
  Sgd sgd(0.1f);
  enter_stage(*t, 1, sgd);
  spread_alpha(*t);
  const std::vector<float> a = param_values(*t, "alpha");
  enter_stage(*t, 2, sgd);
  CHECK(t->mask_nonzeros() == 0);
  CHECK(param_values(*t, "alpha") == a);
  CHECK(all_embeddings(*t) == weighted(*t));
  std::vector<float> expected = weighted(*t);
  kernels::prune_smallest_reference(expected.data(), static_cast<Index>(expected.size()),
                                    static_cast<Index>(expected.size()) - t->target_nonzeros());
  t->finalize();
  CHECK(all_embeddings(*t) == expected);
}

TEST_CASE("autosrh: stages, and bad options are refused", "[methods][autosrh]") {
  const auto stages = make_autosrh("", 4.0)->stages();
  REQUIRE(stages.size() == 3);
  CHECK(stages[1].name == "search");
  CHECK_FALSE(stages[1].train_model);
  CHECK(stages[1].uses_validation);
  CHECK(stages[1].reset_optimizer);
  CHECK(stages[2].reset_optimizer);
  CHECK(make_autosrh(":warmup=0", 4.0)->stages().size() == 2);
  CHECK_THROWS_AS(make_autosrh(":groups=0", 4.0), InvalidArgument);
  CHECK_THROWS_AS(make_autosrh(":groups=256", 4.0), InvalidArgument);
  CHECK_THROWS_AS(make_autosrh(":alpha_lr=0", 4.0), InvalidArgument);
  CHECK_THROWS_AS(make_autosrh(":alpha_l1=-1", 4.0), InvalidArgument);
  CHECK_THROWS_AS(make_autosrh(":search=0", 4.0), InvalidArgument);
  CHECK_THROWS_AS(make_autosrh(":order=later", 4.0), InvalidArgument);
  CHECK_THROWS_AS(make_autosrh("", 1e5), InfeasibleBudget);
}
