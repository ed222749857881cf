#include <catch2/catch.hpp>

#include <random>

#include "embcomp/train/metrics.hpp"

using namespace embcomp;

namespace {
/// AUC by counting every (positive, negative) pair, ties counting one half.
double brute_force_auc(const std::vector<float>& s, const std::vector<float>& y) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (y[i] > 0.5f && y[j] < 0.5f) {
        pairs += 1;
        wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
    }
  }
  return wins / pairs;
}
}  // namespace

TEST_CASE("exact AUC equals the brute-force pair count, with ties", "[train][metrics]") {
  std::mt19937 rng(1);
  for (int levels : {3, 20, 100000}) {  // few distinct scores -> many ties
    std::vector<float> s(700), y(700);
    for (std::size_t i = 0; i < s.size(); ++i) {
      s[i] = static_cast<float>(rng() % static_cast<unsigned>(levels));
      y[i] = (rng() % 3 == 0) ? 1.0f : 0.0f;
    }
    CHECK(exact_auc(s, y) == Approx(brute_force_auc(s, y)).epsilon(1e-12));
  }
}

TEST_CASE("AUC extremes and a single class", "[train][metrics]") {
  CHECK(exact_auc(std::vector<float>{0.1f, 0.9f}, std::vector<float>{0, 1}) == 1.0);
  CHECK(exact_auc(std::vector<float>{0.9f, 0.1f}, std::vector<float>{0, 1}) == 0.0);
  CHECK(exact_auc(std::vector<float>{0.5f, 0.5f}, std::vector<float>{0, 1}) == 0.5);
  CHECK_THROWS_AS(exact_auc(std::vector<float>{0.1f, 0.2f}, std::vector<float>{1, 1}), InvalidArgument);
}

TEST_CASE("logloss matches the formula and clamps", "[train][metrics]") {
  CHECK(logloss(std::vector<float>{0.8f, 0.3f}, std::vector<float>{1, 0}) ==
        Approx(-(std::log(0.8) + std::log(0.7)) / 2).epsilon(1e-6));
  CHECK(std::isfinite(logloss(std::vector<float>{0.0f}, std::vector<float>{1})));
}
