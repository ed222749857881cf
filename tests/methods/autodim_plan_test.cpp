// autodim's plan (methods/autodim_plan.hpp): candidate widths and the budget's reach, and the
// budget-aware width choice against a brute force.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "embcomp/methods/autodim_plan.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("autodim: candidate widths double from min_width to d, and the budget bounds the ratio",
          "[methods][autodim]") {
  CHECK(autodim::candidate_widths(16, 1) == std::vector<Index>{1, 2, 4, 8, 16});
  CHECK(autodim::candidate_widths(16, 2) == std::vector<Index>{2, 4, 8, 16});
  CHECK(autodim::candidate_widths(12, 1) == std::vector<Index>{1, 2, 4, 8, 12});
  CHECK(autodim::candidate_widths(16, 16) == std::vector<Index>{16});
  CHECK_THROWS_AS(autodim::candidate_widths(16, 0), InvalidArgument);
  CHECK_THROWS_AS(autodim::candidate_widths(16, 17), InvalidArgument);
  // Every field at width 1 holds 1/16 of the rows' floats plus the layers: about 16x at most;
  // from the reference's width 2, about 8x.
  const Schema s{{100000, 50000, 20}, 16};
  CHECK_NOTHROW(make_table("autodim", {s, Budget{10}, 1}));
  CHECK_THROWS_AS(make_table("autodim", {s, Budget{20}, 1}), InfeasibleBudget);
  CHECK_THROWS_AS(make_table("autodim:min_width=2", {s, Budget{10}, 1}), InfeasibleBudget);
  CHECK_THROWS_AS(make_table("autodim:warm_start=warm", {s, Budget{2}, 1}), InvalidArgument);
}

TEST_CASE("autodim: the width choice is argmax alpha when it fits, else the best score for its bytes",
          "[methods][autodim]") {
  const Schema s{{500, 60, 9}, 8};
  const std::vector<Index> widths = autodim::candidate_widths(8, 1);
  const Index F = 3, K = 4;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  int below_argmax = 0;
  for (int trial = 0; trial < 300; ++trial) {
    INFO("trial " << trial);
    std::vector<float> score(static_cast<std::size_t>(F * K));
    for (float& v : score) v = normal(rng);
    const Budget budget{1.0 + 6.0 * trial / 300.0};  // 1x .. 7x; the narrowest reach 7.4x
    const auto choice = autodim::choose_widths(s, widths, score, budget);
    const double bytes = autodim::serving_bytes(s, widths, choice);
    REQUIRE(bytes <= budget.bytes(s));
    double value = 0.0;
    for (Index f = 0; f < F; ++f) value += score[f * K + choice[f]];
    // Brute force over every choice: none with at most these bytes scores higher (the
    // Lagrangian's optimality), and argmax is taken whenever it fits.
    std::vector<std::uint8_t> argmax(static_cast<std::size_t>(F));
    for (Index f = 0; f < F; ++f) {
      argmax[f] = static_cast<std::uint8_t>(std::max_element(score.begin() + f * K, score.begin() + (f + 1) * K) -
                                            (score.begin() + f * K));
    }
    for (Index code = 0; code < K * K * K; ++code) {
      const std::vector<std::uint8_t> other{static_cast<std::uint8_t>(code % K),
                                            static_cast<std::uint8_t>(code / K % K),
                                            static_cast<std::uint8_t>(code / K / K)};
      double other_value = 0.0;
      for (Index f = 0; f < F; ++f) other_value += score[f * K + other[f]];
      if (autodim::serving_bytes(s, widths, other) <= bytes) CHECK(other_value <= value + 1e-5);
    }
    if (autodim::serving_bytes(s, widths, argmax) <= budget.bytes(s)) {
      CHECK(choice == argmax);
    } else {
      ++below_argmax;
    }
  }
  CHECK(below_argmax > 100);  // the budget binds in most trials
  CHECK_THROWS_AS(autodim::choose_widths(s, widths, std::vector<float>(12, 0.0f), Budget{8}),
                  InfeasibleBudget);
}
