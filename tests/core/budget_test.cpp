// core/budget.hpp: the bisection, the integer search and the row apportionment against brute
// force.
#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include "embcomp/core/budget.hpp"

using namespace embcomp;

TEST_CASE("budget: bisect brackets a predicate's change", "[core][budget]") {
  const Bracket b = bisect(0.0, 1.0, [](double x) { return x * x >= 0.5; });
  CHECK(b.below < std::sqrt(0.5));
  CHECK(b.above >= std::sqrt(0.5));
  CHECK(b.above - b.below <= 1e-12);
  const Bracket reversed = bisect(0.0, 10.0, [](double x) { return x < 3.0; });
  CHECK(reversed.below < 3.0);
  CHECK(reversed.above >= 3.0);
}

TEST_CASE("budget: largest_fitting equals a linear scan", "[core][budget]") {
  for (Index limit : {Index{-5}, Index{0}, Index{1}, Index{37}, Index{1000}}) {
    const auto fits = [limit](Index x) { return x * 3 <= limit; };
    Index scan = -1;
    for (Index x = 0; x <= 500; ++x) {
      if (fits(x)) scan = x;
    }
    CHECK(largest_fitting(0, 500, fits) == scan);
  }
}

TEST_CASE("budget: apportion_rows fits the total, keeps a row per field, follows the sizes",
          "[core][budget]") {
  const std::vector<Index> sizes = {1000, 37, 5, 250, 1, 12'000};
  const Index all = std::accumulate(sizes.begin(), sizes.end(), Index{0});
  for (Index total : {Index{6}, Index{7}, Index{100}, Index{1293}, Index{6'000}, all, all * 2}) {
    INFO("total " << total);
    const std::vector<Index> rows = apportion_rows(sizes, total);
    REQUIRE(rows.size() == sizes.size());
    CHECK(std::accumulate(rows.begin(), rows.end(), Index{0}) <= total);
    for (std::size_t f = 0; f < sizes.size(); ++f) {
      CHECK(rows[f] >= 1);
      CHECK(rows[f] <= sizes[f]);
    }
    // A larger field never gets fewer rows than a smaller one.
    for (std::size_t f = 0; f < sizes.size(); ++f) {
      for (std::size_t g = 0; g < sizes.size(); ++g) {
        if (sizes[f] > sizes[g]) CHECK(rows[f] >= rows[g]);
      }
    }
    if (total >= all) CHECK(rows == sizes);
  }
  CHECK_THROWS_AS(apportion_rows(sizes, 5), InvalidArgument);
}
