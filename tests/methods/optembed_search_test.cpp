// optembed's search (methods/optembed_search.hpp): the rows ranked by score, the kept rows of a
// width choice within the budget, the widths narrowed to fit, and the evolutionary search on a
// planted fitness whose best is known.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include "embcomp/methods/optembed_search.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;
using namespace embcomp::optembed;

namespace {

const Schema kSchema{{50, 7, 30}, 8};

std::vector<float> some_scores(unsigned seed) {
  std::vector<float> s = random_values(static_cast<std::size_t>(kSchema.total_rows()), seed);
  s[3] = s[60] = 0.25f;  // a tie across fields: the lower row first
  return s;
}

}  // namespace

TEST_CASE("optembed search: rows ranked by score, positive only, ties by row", "[methods][optembed]") {
  const std::vector<float> scores = some_scores(1);
  const std::vector<RankedRow> ranked = rank_rows(kSchema, scores);
  std::vector<Index> expected;
  for (Index r = 0; r < kSchema.total_rows(); ++r) {
    if (scores[r] > 0.0f) expected.push_back(r);
  }
  std::stable_sort(expected.begin(), expected.end(), [&](Index a, Index b) { return scores[a] > scores[b]; });
  REQUIRE(ranked.size() == expected.size());
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    CHECK(kSchema.field_offset(ranked[i].field) + ranked[i].id == expected[i]);
    CHECK(static_cast<Index>(ranked[i].id) < kSchema.cardinalities[ranked[i].field]);
  }
}

TEST_CASE("optembed search: the kept rows of a width choice fit the budget, best scores first",
          "[methods][optembed]") {
  const std::vector<RankedRow> ranked = rank_rows(kSchema, some_scores(2));
  for (const Widths& w : {Widths{1, 1, 1}, Widths{8, 2, 5}, Widths{3, 8, 8}}) {
    for (double bytes : {min_bytes(kSchema), 300.0, 700.0, 1e6}) {
      INFO("bytes " << bytes << ", widths " << w[0] << " " << w[1] << " " << w[2]);
      const Widths fitted = fit_widths(w, bytes);
      const auto kept = kept_ids_bounded(kSchema, ranked, fitted, bytes);
      // The served bytes, in each field's cheapest encoding, within the budget.
      double served = 0.0;
      for (Index f = 0; f < 3; ++f) {
        served += kept_field_bytes(kSchema.cardinalities[f], static_cast<Index>(kept[f].size()), fitted[f],
                                   cheapest_id_set(kSchema.cardinalities[f], kept[f]));
        CHECK(std::is_sorted(kept[f].begin(), kept[f].end()));
      }
      CHECK(served == served_bytes(kSchema, kept, fitted));
      CHECK(served <= bytes);
      // Greedy in rank order: a skipped row did not fit when its turn came.
      double used = 0.0;
      for (Index x : fitted) used += field_fixed_bytes(x);
      for (const RankedRow& row : ranked) {
        const auto& ids = kept[row.field];
        const bool is_kept = std::binary_search(ids.begin(), ids.end(), row.id);
        const double cost = row_bytes_bound(fitted[row.field]);
        CHECK(is_kept == (used + cost <= bytes));
        if (is_kept) used += cost;
      }
      if (bytes >= 1e6) CHECK(static_cast<std::size_t>(kept[0].size() + kept[1].size() + kept[2].size()) == ranked.size());
      // The rounds that offer what cheaper sets left: more bytes served, still within the budget.
      const auto topped = kept_ids(kSchema, ranked, fitted, bytes);
      CHECK(served_bytes(kSchema, topped, fitted) <= bytes);
      CHECK(served_bytes(kSchema, topped, fitted) >= served);
    }
  }
}

TEST_CASE("optembed search: cheaper sets leave bytes that more rows then use", "[methods][optembed]") {
  // One field of 6400 ids, every score positive: at width 1 the bound (8 B a row) keeps a
  // quarter of the rows in 12.8 KB, whose bitset costs 1.2 KB instead of 6.4 KB of sorted ids.
  const Schema s{{6400}, 4};
  std::vector<float> scores(6400);
  for (std::size_t i = 0; i < scores.size(); ++i) scores[i] = static_cast<float>((i * 7919) % 6400 + 1);
  const auto ranked = rank_rows(s, scores);
  const double bytes = 12800.0 + field_fixed_bytes(1);
  const auto bounded = kept_ids_bounded(s, ranked, {1}, bytes);
  const auto topped = kept_ids(s, ranked, {1}, bytes);
  CHECK(bounded[0].size() == 1600);
  CHECK(topped[0].size() > 2500);
  CHECK(served_bytes(s, topped, {1}) <= bytes);
  CHECK(served_bytes(s, topped, {1}) > bytes - 64);
}

TEST_CASE("optembed search: widths narrow, the widest first, until the fixed bytes fit", "[methods][optembed]") {
  const double fixed_111 = 3 * field_fixed_bytes(1);
  CHECK(fit_widths({8, 2, 5}, 1e6) == Widths{8, 2, 5});
  CHECK(fit_widths({8, 2, 5}, fixed_111 + 4.0 * 9) == Widths{5, 2, 5});
  CHECK(fit_widths({8, 2, 5}, fixed_111 + 4.0 * 8) == Widths{4, 2, 5});  // 5, 2, 5 -> 4, 2, 5
  CHECK(fit_widths({8, 2, 5}, fixed_111) == Widths{1, 1, 1});
}

TEST_CASE("optembed search: the evolution finds a planted optimum and scores each candidate once",
          "[methods][optembed]") {
  const Widths target{3, 7, 2, 5};
  std::map<Widths, int> calls;
  const auto fitness = [&](const Widths& w) {
    ++calls[w];
    double distance = 0.0;
    for (std::size_t f = 0; f < w.size(); ++f) distance += std::abs(static_cast<double>(w[f] - target[f]));
    return -distance;
  };
  for (bool seeded : {true, false}) {
    INFO("seed_uniform " << seeded);
    calls.clear();
    EvolutionConfig config;
    config.generations = 30;
    config.mutation_prob = 0.25;
    config.seed_uniform = seeded;
    config.seed = 5;
    const EvolutionResult result = Evolution(4, 8, config).run(fitness);
    CHECK(result.best == target);
    CHECK(result.best_fitness == 0.0);
    CHECK(result.evaluations == static_cast<Index>(calls.size()));
    CHECK(result.evaluations <= 30 * 20);
    for (const auto& [w, n] : calls) {
      CHECK(n == 1);
      for (Index x : w) CHECK((x >= 1 && x <= 8));
    }
    CHECK(calls.count(Widths{1, 1, 1, 1}) == (seeded ? 1u : 0u));
    CHECK(calls.count(Widths{8, 8, 8, 8}) == (seeded ? 1u : 0u));
  }
}

TEST_CASE("optembed search: the recorded best is the best scored, whatever mutation does after",
          "[methods][optembed]") {
  // A fitness with no structure: the returned best must be the argmax of everything scored.
  std::map<Widths, double> scored;
  const auto fitness = [&](const Widths& w) {
    double h = 0.0;
    for (Index x : w) h = h * 8.3 + static_cast<double>(x);
    return scored[w] = std::fmod(h * 0.6180339887, 1.0);
  };
  EvolutionConfig config;
  config.generations = 5;
  config.keep = 2;
  config.seed = 9;
  const EvolutionResult result = Evolution(6, 16, config).run(fitness);
  double best = -1.0;
  for (const auto& [w, f] : scored) best = std::max(best, f);
  CHECK(result.best_fitness == best);
  CHECK(scored.at(result.best) == best);
}
