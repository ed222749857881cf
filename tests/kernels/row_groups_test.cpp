#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "embcomp/kernels/row_groups.hpp"

using embcomp::Index;
using embcomp::kernels::RowGroups;

TEST_CASE("RowGroups finds unique rows and their positions like a map", "[kernels][row_groups]") {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<Index> pick(0, 300);
  RowGroups groups;
  for (int trial = 0; trial < 3; ++trial) {  // reused across batches, as methods do
    std::vector<Index> rows(2000 + static_cast<std::size_t>(trial) * 17);
    for (auto& r : rows) r = pick(rng) * 1000003;  // sparse, large row ids
    groups.build(rows);

    std::map<Index, std::vector<Index>> expected;
    for (Index p = 0; p < static_cast<Index>(rows.size()); ++p) expected[rows[p]].push_back(p);
    REQUIRE(groups.unique_count() == static_cast<Index>(expected.size()));
    for (Index u = 0; u < groups.unique_count(); ++u) {
      const auto& positions = expected.at(groups.rows()[u]);
      const auto got = groups.positions(u);
      CHECK(std::vector<Index>(got.begin(), got.end()) == positions);
      for (Index p : got) CHECK(groups.slot_of(p) == u);
    }
    // First-occurrence order.
    CHECK(groups.rows()[0] == rows[0]);
  }
}

TEST_CASE("RowGroups::reduce sums contributions per unique row", "[kernels][row_groups]") {
  const std::vector<Index> rows = {5, 2, 5, 9, 2, 5};
  RowGroups groups;
  groups.build(rows);
  std::vector<float> values(static_cast<std::size_t>(groups.unique_count() * 2), 0.0f);
  groups.reduce(2, values.data(), [](Index p, float* acc) {
    acc[0] += static_cast<float>(p);
    acc[1] += 1.0f;
  });
  // Unique rows in first-occurrence order: 5 (positions 0,2,5), 2 (1,4), 9 (3).
  CHECK(groups.rows() == std::vector<Index>{5, 2, 9});
  CHECK(values == std::vector<float>{7, 3, 5, 2, 3, 1});
}

TEST_CASE("RowGroups::sum_rows equals a plain per-position sum, bit for bit", "[kernels][row_groups]") {
  // Widths that use every column block (16, 8, 4, 1) alone and together; few rows, so each
  // holds many positions (the case sum_rows keeps in registers), and non-zero starting values.
  std::mt19937_64 rng(11);
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::uniform_int_distribution<Index> pick(0, 40);
  for (const Index width : {1, 3, 4, 7, 8, 13, 16, 29, 32, 64, 100}) {
    std::vector<Index> rows(3000);
    for (auto& r : rows) r = pick(rng);
    std::vector<float> src(rows.size() * static_cast<std::size_t>(width));
    for (auto& v : src) v = value(rng);
    RowGroups groups;
    groups.build(rows);
    std::vector<float> start(static_cast<std::size_t>(groups.unique_count() * width));
    for (auto& v : start) v = value(rng);

    std::vector<float> expected = start;
    for (Index u = 0; u < groups.unique_count(); ++u) {
      for (Index p : groups.positions(u)) {
        for (Index c = 0; c < width; ++c) expected[u * width + c] += src[p * width + c];
      }
    }
    std::vector<float> got = start;
    groups.sum_rows(width, src.data(), got.data());
    INFO("width " << width);
    CHECK(got == expected);
  }
}

TEST_CASE("RowGroups handles an empty batch", "[kernels][row_groups]") {
  RowGroups groups;
  groups.build({});
  CHECK(groups.unique_count() == 0);
}
