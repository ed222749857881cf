#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "embcomp/data/split.hpp"

using namespace embcomp;

TEST_CASE("reference split of Criteo Kaggle's row count matches the protocol", "[data][split]") {
  const Index rows = 45'840'617;
  const auto parts = equal_parts(rows, 7);
  REQUIRE(parts.size() == 7);
  for (int p = 0; p < 4; ++p) CHECK(parts[static_cast<std::size_t>(p)].size() == 6'548'660);
  for (int p = 4; p < 7; ++p) CHECK(parts[static_cast<std::size_t>(p)].size() == 6'548'659);
  CHECK(parts.back().end == rows);

  const Split split = reference_split(rows);
  CHECK(split.train.size() == 39'291'958);
  CHECK(split.test.size() == 3'274'330);
  CHECK(split.validation.size() == 3'274'329);
  CHECK(split.train.range == RowRange{0, 39'291'958});
  CHECK(split.test.range == RowRange{39'291'958, 42'566'288});  // test first, then validation
  CHECK(split.validation.range == RowRange{42'566'288, rows});
}

TEST_CASE("Avazu tail split and a shuffled reference train part", "[data][split]") {
  const Split avazu = tail_split(40'428'967, 4'218'938);
  CHECK(avazu.train.size() == 36'210'029);
  CHECK(avazu.test.size() == 2'109'469);
  CHECK(avazu.validation.size() == 2'109'469);
  CHECK(avazu.test.range.begin == 36'210'029);

  const Split shuffled = reference_split(700, 7, 42);
  REQUIRE(shuffled.train.listed);
  std::vector<Index> rows = shuffled.train.rows;
  CHECK_FALSE(std::is_sorted(rows.begin(), rows.end()));
  std::sort(rows.begin(), rows.end());
  for (Index i = 0; i < 600; ++i) CHECK(rows[static_cast<std::size_t>(i)] == i);
  CHECK(reference_split(700, 7, 42).train.rows == shuffled.train.rows);
  CHECK(reference_split(700, 7, 43).train.rows != shuffled.train.rows);
}

TEST_CASE("seeded random split partitions the rows with the given fractions", "[data][split]") {
  const Split split = random_split(1000, 0.8, 0.1, 7);
  CHECK(split.train.size() == 800);
  CHECK(split.validation.size() == 100);
  CHECK(split.test.size() == 100);
  std::set<Index> all;
  for (const RowSelection* part : {&split.train, &split.validation, &split.test}) {
    for (Index i = 0; i < part->size(); ++i) all.insert(part->row(i));
  }
  CHECK(all.size() == 1000);
  CHECK(*all.begin() == 0);
  CHECK(*all.rbegin() == 999);
  // Test rows are spread over the file, not the tail.
  CHECK(*std::min_element(split.test.rows.begin(), split.test.rows.end()) < 100);
  CHECK(random_split(1000, 0.8, 0.1, 7).test.rows == split.test.rows);
  CHECK(random_split(1000, 0.8, 0.1, 8).test.rows != split.test.rows);
  CHECK_THROWS_AS(random_split(10, 0.8, 0.3, 1), InvalidArgument);
  CHECK_THROWS_AS(equal_parts(10, 0), InvalidArgument);
}
