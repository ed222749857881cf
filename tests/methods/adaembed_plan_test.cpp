// adaembed's sizing (methods/adaembed_plan.hpp): the global top ids against a naive sort, and
// plans that fit their budget or name the highest ratio they reach.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "embcomp/methods/adaembed_plan.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("adaembed plan: GlobalTopIds takes the top scores of all fields, ties by field then id",
          "[methods][adaembed]") {
  const Schema s{{300, 40, 7, 1}, 8};
  std::mt19937_64 rng(3);
  auto counts = std::make_shared<IdCounts>();
  for (Index n : s.cardinalities) {
    std::vector<std::uint64_t> c(static_cast<std::size_t>(n));
    for (auto& v : c) v = rng() % 6;  // many ties, some unseen (0)
    counts->push_back(std::move(c));
  }
  const TableArgs args{s, Budget{1.0}, 1, counts};
  const std::vector<bool> fields = {true, true, false, true};  // field 2 takes no part
  const GlobalTopIds top(args, fields);
  struct Key {
    std::uint64_t score;
    std::size_t field;
    Index id;
  };
  std::vector<Key> all;
  for (std::size_t f = 0; f < fields.size(); ++f) {
    if (!fields[f]) continue;
    for (Index x = 0; x < s.cardinalities[f]; ++x) all.push_back({(*counts)[f][static_cast<std::size_t>(x)], f, x});
  }
  std::sort(all.begin(), all.end(), [](const Key& a, const Key& b) {
    return a.score != b.score ? a.score > b.score : a.field != b.field ? a.field < b.field : a.id < b.id;
  });
  const auto seen = static_cast<Index>(std::count_if(all.begin(), all.end(), [](const Key& k) { return k.score > 0; }));
  CHECK(top.seen() == seen);
  for (Index total : {Index{0}, Index{1}, Index{17}, seen / 2, seen}) {
    INFO("top " << total);
    std::vector<Index> expected(fields.size(), 0);
    for (Index k = 0; k < total; ++k) ++expected[all[static_cast<std::size_t>(k)].field];
    CHECK(top.hot(total) == expected);
  }
}

TEST_CASE("adaembed plan: fits its budget or names the highest ratio", "[methods][adaembed]") {
  const Schema s{{20000, 3000, 200, 20}, 16};
  for (const bool shared : {false, true}) {
    AdaConfig config;
    config.shared_cold = shared;
    for (double ratio : {2.0, 10.0, 100.0, 1000.0}) {
      INFO("shared " << shared << " at " << ratio << "x");
      const AdaPlan plan = plan_adaembed("adaembed", {s, Budget{ratio}, 1}, config);
      CHECK(plan.serving_bytes <= Budget{ratio}.bytes(s));
      CHECK(plan.serving_bytes == static_cast<double>(plan.rows) * 64.0 + 4.0 * sizeof(AdaRoute));
    }
  }
  // The smallest form: the routes and one cold row per field.
  const double limit = s.full_bytes() / (4.0 * sizeof(AdaRoute) + 4.0 * 64.0);
  try {
    plan_adaembed("adaembed", {s, Budget{limit * 1.01}, 1}, AdaConfig{});
    FAIL("expected InfeasibleBudget");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == Approx(limit));
  }
}
