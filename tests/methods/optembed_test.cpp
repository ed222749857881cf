// optembed: the supernet's lookup and training forward against plain references, its
// surrogate backward and the thresholds' own SGD against a written-out twin, the search within
// the budget (kept rows, widths, released storage, checkpoints, the serving form), and a
// planted search whose right widths are known.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include "embcomp/methods/kept_rows.hpp"
#include "embcomp/methods/optembed.hpp"
#include "embcomp/serving/kept_rows_table.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

const Schema kSchema{{300, 40, 7}, 8};

std::unique_ptr<OptEmbedTable> make_optembed(const std::string& options = "", double ratio = 1.0,
                                             const Schema& schema = kSchema) {
  return make_method<OptEmbedTable>("optembed" + options, {schema, Budget{ratio}, 3});
}

/// Rows of order one, thresholds at 4 (|row|_1 of 8 entries in (-1, 1) is about 4): about half
/// the rows are masked, and many x = |row|_1 - t fall inside the surrogate's support.
void spread_supernet(OptEmbedTable& t, unsigned seed) {
  Parameter& rows = mutable_param(t, "rows");
  const auto v = random_values(rows.size(), seed);
  std::copy(v.begin(), v.end(), rows.data());
  Parameter& threshold = mutable_param(t, "threshold");
  for (Index f = 0; f < threshold.rows(); ++f) threshold.row(f)[0] = 3.5f + 0.25f * static_cast<float>(f);
}

double l1(const float* e, Index d) {
  double s = 0.0;
  for (Index c = 0; c < d; ++c) s += std::fabs(e[c]);
  return s;
}

}  // namespace

TEST_CASE("optembed: the supernet's lookup keeps a row where its L1 norm exceeds its field's threshold",
          "[methods][optembed]") {
  auto t = make_optembed();
  spread_supernet(*t, 1);
  const auto ids = random_ids(kSchema, 64, 2);
  const auto got = lookup(*t, ids);
  const auto rows = param_values(*t, "rows"), threshold = param_values(*t, "threshold");
  int masked = 0, kept = 0;
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index f = static_cast<Index>(p % 3), r = kSchema.field_offset(f) + ids[p];
    const bool keep = l1(&rows[r * 8], 8) > threshold[f];
    (keep ? kept : masked) += 1;
    for (Index c = 0; c < 8; ++c) CHECK(got[p * 8 + c] == (keep ? rows[r * 8 + c] : 0.0f));
  }
  CHECK(masked > 20);
  CHECK(kept > 20);
  CHECK_FALSE(t->exact_gradient());
  CHECK_FALSE(t->forward_matches_lookup());
}

TEST_CASE("optembed: the training forward keeps the first k of each position's entries, k drawn per step",
          "[methods][optembed]") {
  auto t = make_optembed();
  spread_supernet(*t, 3);
  const auto ids = random_ids(kSchema, 100, 4);
  const auto eval = lookup(*t, ids);
  const auto out = train_forward(*t, ids);
  std::vector<int> widths_seen(9, 0);
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index width = t->mask_width(static_cast<Index>(p), static_cast<Index>(ids.size()));
    REQUIRE((width >= 1 && width <= 8));
    ++widths_seen[width];
    for (Index c = 0; c < 8; ++c) CHECK(out[p * 8 + c] == (c < width ? eval[p * 8 + c] : 0.0f));
  }
  for (Index w = 1; w <= 8; ++w) CHECK(widths_seen[w] > 10);  // 300 draws, about 37 each
  CHECK(train_forward(*t, ids) == out);  // the same step draws the same masks
  t->after_step({});
  CHECK(train_forward(*t, ids) != out);
}

TEST_CASE("optembed: the supernet's backward and the thresholds' SGD equal the surrogate's definition",
          "[methods][optembed]") {
  const double alpha = 1e-2, lr = 0.5;
  auto t = make_optembed(":alpha=1e-2,threshold_lr=0.5");
  spread_supernet(*t, 5);
  const auto ids = random_ids(kSchema, 48, 6);
  const auto dE = random_values(ids.size() * 8, 7);
  const auto rows = param_values(*t, "rows"), threshold = param_values(*t, "threshold");
  std::vector<double> d_rows(rows.size(), 0.0), d_t(3, 0.0);
  int inside_support = 0;  // positions whose x gets a surrogate slope
  for (Index f = 0; f < 3; ++f) d_t[f] = -alpha * std::exp(-double{threshold[f]});
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index f = static_cast<Index>(p % 3), r = kSchema.field_offset(f) + ids[p];
    const Index width = t->mask_width(static_cast<Index>(p), static_cast<Index>(ids.size()));
    const double x = l1(&rows[r * 8], 8) - threshold[f];
    const double m = x > 0 ? 1.0 : 0.0;
    const double a = std::fabs(x), slope = a <= 0.4 ? 2 - 4 * a : (a <= 1.0 ? 0.4 : 0.0);
    inside_support += slope > 0.0;
    double vg = 0.0;
    for (Index c = 0; c < width; ++c) vg += double{rows[r * 8 + c]} * dE[p * 8 + c];
    for (Index c = 0; c < 8; ++c) {
      const double e = rows[r * 8 + c], sign = e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0);
      d_rows[r * 8 + c] += (c < width ? m * dE[p * 8 + c] : 0.0) + slope * vg * sign;
    }
    d_t[f] -= slope * vg;
  }
  train_forward(*t, ids);
  const Gradients grads = backward_of(*t, ids, dE);
  const std::vector<double> got = densify(grads, param_named(*t, "rows"));
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(d_rows[i]).margin(1e-5));
  CHECK(inside_support > 10);
  CHECK(grads.dense.empty());  // the thresholds are not the shared optimizer's
  CHECK(t->auxiliary_loss() == Approx(alpha * (std::exp(-3.5) + std::exp(-3.75) + std::exp(-4.0))));
  t->after_step({});
  for (Index f = 0; f < 3; ++f) CHECK(t->threshold().row(f)[0] == Approx(threshold[f] - lr * d_t[f]).margin(1e-5));
}

TEST_CASE("optembed: the search finds the planted widths by validation AUC", "[methods][optembed]") {
  // Field f's planted effect is spread evenly over its first target[f] entries and the entries
  // after them are noise: the probe's logit (the sum of all entries) is the planted one exactly
  // at the target widths; narrower loses signal, wider adds noise.
  const Schema s{{200, 150, 90}, 4};
  const std::vector<Index> target{3, 1, 2};
  PlantedTask task(s, 21);
  auto t = make_optembed(":generations=8", 1.0, s);
  Parameter& rows = mutable_param(*t, "rows");
  const auto noise = random_values(rows.size(), 8);
  for (Index f = 0; f < 3; ++f) {
    for (Index id = 0; id < s.cardinalities[f]; ++id) {
      float* e = rows.row(s.field_offset(f) + id);
      for (Index c = 0; c < 4; ++c) {
        e[c] = c < target[f] ? task.effect(f, id) / static_cast<float>(target[f])
                             : 2.0f * noise[(s.field_offset(f) + id) * 4 + c];
      }
    }
  }
  mutable_param(*t, "threshold").fill(-1.0f);  // no row masked: the budget (1x) keeps them all
  LinearProbe probe(task, 256);
  StageContext ctx;
  ctx.validate = [&] { return probe.evaluate(*t).auc; };
  t->begin_stage(1, ctx);
  REQUIRE_FALSE(t->searching());
  for (Index f = 0; f < 3; ++f) CHECK(t->kept().field(f).width == target[f]);
  CHECK(t->search_result().best == target);
  CHECK(t->search_result().evaluations <= 8 * 20);
  CHECK(t->kept().field(0).kept == 200);
}

TEST_CASE("optembed: the search keeps the best-scoring rows that fit, and releases the supernet",
          "[methods][optembed]") {
  const Schema s{{4000, 600, 50, 7}, 8};
  for (double ratio : {1.0, 10.0, 100.0, 1000.0}) {
    INFO("ratio " << ratio);
    auto t = make_optembed("", ratio, s);
    spread_supernet(*t, 9);
    const auto rows = param_values(*t, "rows"), threshold = param_values(*t, "threshold");
    const auto ids = random_ids(s, 50, 10);
    t->finalize();  // no validation: the search scores candidates by the L1 mass they keep
    REQUIRE_FALSE(t->searching());
    const MemoryReport m = t->memory();
    CHECK(static_cast<double>(m.serving_bytes) <= Budget{ratio}.bytes(s));
    CHECK(m.training_bytes() < m.serving_bytes + 64);  // the supernet storage is released
    // Kept rows are the supernet's rows cut to the field's width; the others read zeros. A
    // pruned row that scores above a kept one has a positive score and a wider field.
    const KeptRows& kept = t->kept();
    std::vector<std::pair<double, Index>> pruned;  // (score, width) of positive pruned rows
    for (Index f = 0; f < 4; ++f) {
      const Index w = kept.field(f).width;
      for (Index id = 0; id < s.cardinalities[f]; ++id) {
        const Index g = s.field_offset(f) + id;
        const double score = l1(&rows[g * 8], 8) - threshold[f];
        const Index r = kept.row_of(f, id);
        if (r < 0) {
          if (score > 0) pruned.emplace_back(score, w);
          continue;
        }
        CHECK(score > 0);
        for (Index c = 0; c < w; ++c) CHECK(kept.rows(f).row(r)[c] == rows[g * 8 + c]);
      }
    }
    for (Index f = 0; f < 4; ++f) {
      for (Index id = 0; id < s.cardinalities[f]; ++id) {
        const Index r = kept.row_of(f, id);
        if (r < 0) continue;
        const double score = l1(&rows[(s.field_offset(f) + id) * 8], 8) - threshold[f];
        for (const auto& [pruned_score, width] : pruned) {
          if (pruned_score > score) CHECK(width > kept.field(f).width);
        }
        break;  // one kept row per field suffices for the check's cost
      }
    }
    // The serving form and checkpoints agree with the table.
    auto frozen = t->freeze();
    CHECK(frozen->spec() == "kept_rows:of=optembed");
    CHECK(lookup(*frozen, ids) == lookup(*t, ids));
    CHECK(frozen->memory().serving_bytes == m.serving_bytes);
    std::stringstream file, frozen_file;
    t->save(file);
    frozen->save(frozen_file);
    auto loaded = load_table(file);
    CHECK(lookup(*loaded, ids) == lookup(*t, ids));
    auto loaded_frozen = load_table(frozen_file);
    CHECK(dynamic_cast<KeptRowsServingTable*>(loaded_frozen.get()) != nullptr);
    CHECK(lookup(*loaded_frozen, ids) == lookup(*t, ids));
    CHECK(t->exact_gradient());
  }
}

TEST_CASE("optembed: stages, a supernet checkpoint, and options with no valid value",
          "[methods][optembed]") {
  auto t = make_optembed(":supernet=2,retrain=0.5");
  const auto stages = t->stages();
  REQUIRE(stages.size() == 3);
  CHECK(stages[0].epochs == 2.0);
  CHECK(stages[1].steps == Index{0});
  CHECK(stages[2].reset_optimizer);
  CHECK_FALSE(stages[2].reset_model);
  CHECK(stages[2].epochs == 0.5);
  spread_supernet(*t, 11);
  std::stringstream file;
  t->save(file);
  auto loaded = load_table(file);
  const auto ids = random_ids(kSchema, 40, 12);
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
  for (const std::string bad : {":generations=0", ":mutations=0,crossovers=0", ":mutation_prob=2",
                                ":initial=best", ":keep=-1"}) {
    INFO(bad);
    CHECK_THROWS_AS(make_table("optembed" + bad, {kSchema, Budget{2.0}, 1}), InvalidArgument);
  }
  // Below the smallest form (every field one entry wide, nothing kept) the budget is infeasible.
  CHECK_THROWS_AS(make_table("optembed", {kSchema, Budget{1e6}, 1}), InfeasibleBudget);
}
