#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "embcomp/data/schemas.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/train/metrics.hpp"

using namespace embcomp;

namespace {
SyntheticConfig small_config() {
  SyntheticConfig config;
  config.train_rows = 20'000;
  config.validation_rows = 5'000;
  config.test_rows = 40'000;
  config.seed = 5;
  return config;
}
}  // namespace

TEST_CASE("synthetic cardinalities are Criteo's scaled, at least 2", "[data][synthetic]") {
  const auto scaled = scaled_cardinalities(criteo_kaggle_schema(), 0.001);
  REQUIRE(scaled.size() == 26);
  CHECK(scaled[2] == 10131);  // 10,131,227
  CHECK(scaled[8] == 2);      // 3 -> 0, kept at 2
  CHECK(scaled[0] == 2);      // 1,460 -> 1 -> 2
  CHECK(scaled[9] == 93);     // 93,145
}

TEST_CASE("synthetic Bayes AUC and logloss match a Monte-Carlo estimate", "[data][synthetic]") {
  const SyntheticCtr generator(small_config());
  const BayesMetrics bayes = generator.bayes_metrics(SplitPart::test);
  Batch batch;
  std::vector<float> p;
  generator.read(SplitPart::test, 0, generator.rows(SplitPart::test), batch, p);
  REQUIRE(bayes.rows == 40'000);
  CHECK(bayes.auc == Approx(exact_auc(p, batch.labels)).epsilon(1e-12));
  const double ctr = static_cast<double>(bayes.positives) / static_cast<double>(bayes.rows);
  CHECK(ctr > 0.15);
  CHECK(ctr < 0.40);
  CHECK(bayes.auc > 0.7);
  CHECK(bayes.auc < 0.9);
  const double base_rate_logloss = -(ctr * std::log(ctr) + (1 - ctr) * std::log(1 - ctr));
  CHECK(bayes.logloss < base_rate_logloss - 0.03);

  // Labels drawn again, independently, from the true probabilities.
  constexpr int kDraws = 12;
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<float> labels(p.size());
  double auc_sum = 0.0, logloss_sum = 0.0;
  for (int k = 0; k < kDraws; ++k) {
    for (std::size_t i = 0; i < p.size(); ++i) labels[i] = unit(rng) < p[i] ? 1.0f : 0.0f;
    auc_sum += exact_auc(p, labels);
    logloss_sum += logloss(p, labels);
  }
  const double mc_auc = auc_sum / kDraws, mc_logloss = logloss_sum / kDraws;
  // Standard error of one AUC (Hanley-McNeil bound) and of one mean logloss.
  const double minority = std::min(ctr, 1 - ctr) * static_cast<double>(bayes.rows);
  const double se_auc = std::sqrt(bayes.auc * (1 - bayes.auc) / minority);
  const double se_logloss = 1.0 / std::sqrt(static_cast<double>(bayes.rows));
  CHECK(std::abs(bayes.auc - mc_auc) < 4 * se_auc);
  CHECK(std::abs(bayes.expected_auc - mc_auc) < 4 * se_auc / std::sqrt(kDraws));
  CHECK(std::abs(bayes.logloss - mc_logloss) < 4 * se_logloss);
}

TEST_CASE("synthetic interactions carry signal beyond the per-id effects", "[data][synthetic]") {
  SyntheticConfig config = small_config();
  const SyntheticCtr full(config);
  config.interaction_scale = 0.0;  // same ids, dense and label uniforms; no interaction term
  const SyntheticCtr main_effects(config);
  REQUIRE(full.interaction_fields().size() == 8);
  Batch batch, same;
  std::vector<float> p_full, p_main;
  full.read(SplitPart::test, 0, 40'000, batch, p_full);
  main_effects.read(SplitPart::test, 0, 40'000, same, p_main);
  REQUIRE(same.ids == batch.ids);
  CHECK(exact_auc(p_full, batch.labels) > exact_auc(p_main, batch.labels) + 0.02);
}

namespace {
/// Least-squares slope of log(count) over log(rank) for ranks 1..ranks.
double log_log_slope(const std::vector<double>& counts, int ranks) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int k = 1; k <= ranks; ++k) {
    const double x = std::log(k), y = std::log(counts[static_cast<std::size_t>(k - 1)]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (ranks * sxy - sx * sy) / (ranks * sxx - sx * sx);
}
}  // namespace

TEST_CASE("synthetic ids follow a Zipf law with the configured exponent", "[data][synthetic]") {
  for (const double exponent : {1.05, 1.2}) {
    SyntheticConfig config;
    config.cardinalities = {50'000, 3};
    config.num_dense = 0;
    config.zipf_exponent = exponent;
    config.train_rows = 200'000;
    const SyntheticCtr generator(config);
    Batch batch;
    generator.read(SplitPart::train, 0, config.train_rows, batch);
    std::vector<double> counts(50'000, 0.0), small(3, 0.0);
    for (Index r = 0; r < batch.size; ++r) {
      ++counts[static_cast<std::size_t>(batch.ids[static_cast<std::size_t>(2 * r)])];
      ++small[static_cast<std::size_t>(batch.ids[static_cast<std::size_t>(2 * r + 1)])];
    }
    INFO("exponent " << exponent);
    CHECK(log_log_slope(counts, 30) == Approx(-exponent).margin(0.06));
    double harmonic = 0.0;  // P(rank 1) = 1 / H(n, s)
    for (int k = 1; k <= 50'000; ++k) harmonic += std::pow(k, -exponent);
    const double p1 = 1.0 / harmonic, n = static_cast<double>(batch.size);
    CHECK(counts[0] == Approx(p1 * n).margin(5 * std::sqrt(n * p1 * (1 - p1))));
    const double h3 = 1.0 + std::pow(2.0, -exponent) + std::pow(3.0, -exponent);
    CHECK(small[2] / n == Approx(std::pow(3.0, -exponent) / h3).margin(0.01));
  }
}

TEST_CASE("synthetic batches are deterministic and independent of how they are cut", "[data][synthetic]") {
  const SyntheticConfig config = small_config();
  const SyntheticCtr generator(config);
  Batch whole, piece, again;
  generator.read(SplitPart::train, 0, 3000, whole);
  generator.read(SplitPart::train, 1000, 500, piece);
  SyntheticCtr(config).read(SplitPart::train, 0, 3000, again);
  CHECK(again.ids == whole.ids);
  CHECK(again.labels == whole.labels);
  CHECK(again.dense == whole.dense);
  const auto fields = static_cast<std::ptrdiff_t>(whole.num_fields);
  CHECK(piece.ids == std::vector<Index>(whole.ids.begin() + 1000 * fields, whole.ids.begin() + 1500 * fields));
  CHECK(piece.labels == std::vector<float>(whole.labels.begin() + 1000, whole.labels.begin() + 1500));

  Batch validation, other_seed;
  generator.read(SplitPart::validation, 0, 3000, validation);
  CHECK(validation.size == 3000);
  CHECK(validation.ids != whole.ids);
  SyntheticConfig changed = config;
  changed.seed = 6;
  SyntheticCtr(changed).read(SplitPart::train, 0, 3000, other_seed);
  CHECK(other_seed.ids != whole.ids);

  generator.read(SplitPart::validation, 4990, 100, piece);  // clipped at the part's end
  CHECK(piece.size == 10);
  const auto cardinalities = generator.cardinalities();
  std::size_t zeros = 0;
  for (Index r = 0; r < whole.size; ++r) {
    for (Index f = 0; f < whole.num_fields; ++f) {
      const Index id = whole.ids[static_cast<std::size_t>(r * whole.num_fields + f)];
      CHECK((id >= 0 && id < cardinalities[static_cast<std::size_t>(f)]));
    }
  }
  for (float x : whole.dense) {
    CHECK(x >= 0.0f);
    zeros += x == 0.0f;
  }
  const double zero_fraction = static_cast<double>(zeros) / static_cast<double>(whole.dense.size());
  CHECK(zero_fraction > 0.18);  // 20 % missing, plus counts that floor to 0
  CHECK(zero_fraction < 0.35);
}

TEST_CASE("synthetic id_order=hashed permutes each field's ids, keeping the law and the task",
          "[data][synthetic]") {
  SyntheticConfig config = small_config();
  config.cardinalities = {1, 2, 3, 1000, 4097};  // sizes below, at and above powers of two
  const SyntheticCtr ranked(config);
  config.id_order = IdOrder::hashed;
  const SyntheticCtr hashed(config);
  for (Index f = 0; f < 5; ++f) {
    const Index n = config.cardinalities[static_cast<std::size_t>(f)];
    std::vector<bool> seen(static_cast<std::size_t>(n), false);
    Index moved = 0;
    for (Index rank = 0; rank < n; ++rank) {
      const Index id = hashed.id_of_rank(f, rank);
      REQUIRE((id >= 0 && id < n));
      REQUIRE_FALSE(seen[static_cast<std::size_t>(id)]);  // a bijection of [0, n)
      seen[static_cast<std::size_t>(id)] = true;
      moved += id != rank;
      CHECK(ranked.id_of_rank(f, rank) == rank);
    }
    if (n >= 1000) CHECK(moved > n * 9 / 10);
  }
  // Sample r draws the same ranks under both orders: its ids are the permuted ranks, and its
  // label the same (effects belong to ids, and the permuted id's effect is drawn for that id).
  Batch a, b;
  ranked.read(SplitPart::train, 0, 500, a);
  hashed.read(SplitPart::train, 0, 500, b);
  for (std::size_t p = 0; p < a.ids.size(); ++p) {
    REQUIRE(b.ids[p] == hashed.id_of_rank(static_cast<Index>(p % 5), a.ids[p]));
  }
  CHECK(hashed.bayes_metrics().auc == Approx(ranked.bayes_metrics().auc).margin(0.03));
}

TEST_CASE("synthetic drift slides popularity over the training stream, validation at its end",
          "[data][synthetic]") {
  SyntheticConfig config;
  config.cardinalities = {10'000};
  config.num_dense = 0;
  config.train_rows = 100'000;
  config.validation_rows = 20'000;
  config.drift = 0.01;  // 100 ranks over the stream
  const SyntheticCtr generator(config);
  CHECK(generator.rank_shift(0, SplitPart::train, 0) == 0);
  CHECK(generator.rank_shift(0, SplitPart::train, 50'000) == 50);
  CHECK(generator.rank_shift(0, SplitPart::validation, 0) == 100);
  // The most frequent id of the first and the last tenth of training, and of validation.
  auto top_id = [&](SplitPart part, Index first, Index count) {
    Batch batch;
    generator.read(part, first, count, batch);
    std::vector<Index> counts(10'000, 0);
    for (Index id : batch.ids) ++counts[static_cast<std::size_t>(id)];
    return static_cast<Index>(std::max_element(counts.begin(), counts.end()) - counts.begin());
  };
  CHECK(top_id(SplitPart::train, 0, 10'000) <= 10);
  CHECK(top_id(SplitPart::train, 90'000, 10'000) >= 90);
  CHECK(top_id(SplitPart::train, 90'000, 10'000) <= 100);
  CHECK(top_id(SplitPart::validation, 0, 20'000) == 100);
  config.drift = -1.0;
  CHECK_THROWS_AS(SyntheticCtr(config), InvalidArgument);
}
