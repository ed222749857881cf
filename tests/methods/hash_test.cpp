#include <catch2/catch.hpp>

#include <set>

#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("hash: shared table size follows the budget", "[methods][hash]") {
  const Schema s = small_schema();  // N = 1293 rows of 8 floats
  for (double ratio : {1.0, 2.0, 10.0, 100.0}) {
    auto t = make_table("hash", {s, Budget{ratio}, 1});
    const auto rows = static_cast<Index>(std::floor(s.full_bytes() / ratio / (8 * 4)));
    CHECK(t->parameters()[0]->rows() == std::min(rows, s.total_rows()));
    CHECK(t->memory().serving_bytes == static_cast<std::size_t>(t->parameters()[0]->rows() * 8 * 4));
  }
}

TEST_CASE("hash=modulo reproduces the reference's global id mod M", "[methods][hash]") {
  const Schema s = small_schema();
  auto t = make_table("hash:hash=modulo", {s, Budget{10}, 1});
  const Parameter& w = *std::as_const(*t).parameters()[0];
  const Index m = w.rows();
  const auto ids = random_ids(s, 50, 4);
  const auto out = lookup(*t, ids);
  for (Index p = 0; p < static_cast<Index>(ids.size()); ++p) {
    const Index global = s.field_offset(p % s.num_fields()) + ids[p];
    const float* expected = w.row(global % m);
    CHECK(std::equal(expected, expected + s.dim, out.begin() + p * s.dim));
  }
}

TEST_CASE("hash=xxhash: colliding ids share a row, the same for every batch", "[methods][hash]") {
  const Schema s{{100000}, 4};
  auto t = make_table("hash:hash=xxhash", {s, Budget{1000}, 3});  // 100 rows for 100,000 ids
  std::vector<Index> ids(100000);
  for (Index i = 0; i < 100000; ++i) ids[i] = i;
  const auto out = lookup(*t, ids);
  std::set<std::vector<float>> distinct;
  for (Index i = 0; i < 100000; ++i) distinct.insert({out.begin() + i * 4, out.begin() + i * 4 + 4});
  CHECK(distinct.size() == 100);
}

TEST_CASE("hash per_field: budget split by cardinality, small fields kept whole", "[methods][hash]") {
  const Schema s = small_schema();  // {1000, 37, 5, 250, 1}
  auto t = make_table("hash:tables=per_field,threshold=40", {s, Budget{4}, 1});
  // Budget rows = 1293 / 4 = 323; kept = 37 + 5 + 1 = 43; the rest share 280 rows over 1250 ids.
  CHECK(t->parameters()[0]->rows() == 43 + 224 + 56);
  CHECK(t->memory().ratio() >= 4.0);
  // A field kept whole maps distinct ids to distinct rows.
  std::vector<Index> ids;
  for (Index i = 0; i < 37; ++i) ids.insert(ids.end(), {0, i, 0, 0, 0});
  const auto out = lookup(*t, ids);
  std::set<std::vector<float>> rows;
  for (Index i = 0; i < 37; ++i) rows.insert({out.begin() + (i * 5 + 1) * 8, out.begin() + (i * 5 + 2) * 8});
  CHECK(rows.size() == 37);
}

TEST_CASE("hash: backward sums the gradients of colliding ids", "[methods][hash]") {
  const Schema s{{10}, 2};
  auto t = make_table("hash:hash=modulo", {s, Budget{5}, 1});  // M = 2: even ids row 0, odd row 1
  const std::vector<Index> ids = {0, 1, 2, 3, 4};
  const std::vector<float> dE = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50};
  Gradients grads;
  t->backward({ids.data(), 5, 1}, {dE.data(), 5, 2}, grads);
  REQUIRE(grads.sparse.size() == 1);
  const SparseGrad& g = grads.sparse[0];
  REQUIRE(g.rows == std::vector<Index>{0, 1});
  CHECK(std::vector<float>(g.values.begin(), g.values.end()) == std::vector<float>{9, 90, 6, 60});
}

TEST_CASE("hash: threshold under tables=shared is refused, not ignored", "[methods][hash]") {
  const Schema s = small_schema();
  CHECK_THROWS_WITH(make_table("hash:threshold=40", {s, Budget{4}, 1}),
                    Catch::Contains("threshold=40") && Catch::Contains("tables=shared"));
  CHECK_NOTHROW(make_table("hash:tables=per_field,threshold=40", {s, Budget{4}, 1}));
  // A canonical spec lists every option at its value: it rebuilds the table.
  auto t = make_table("hash", {s, Budget{4}, 1});
  CHECK_NOTHROW(make_table(t->spec(), {s, Budget{4}, 1}));
}

TEST_CASE("hash: modulo by default, spreading a field of n_f <= M ids over distinct rows",
          "[methods][hash]") {
  const Schema s{{40, 25, 3}, 4};  // N = 68 ids
  auto t = make_table("hash", {s, Budget{1.5}, 1});  // M = 45 rows
  CHECK(t->spec() == "hash:hash=modulo,tables=shared,threshold=0");
  REQUIRE(t->parameters()[0]->rows() == 45);
  // Every field of at most M ids reads distinct rows (its global ids are contiguous), whatever
  // order its ids are numbered in; xxhash's random buckets collide some of them.
  for (Index f = 0; f < 3; ++f) {
    const Index n = s.cardinalities[static_cast<std::size_t>(f)];
    std::vector<Index> ids(static_cast<std::size_t>(n * 3), 0);
    for (Index i = 0; i < n; ++i) ids[static_cast<std::size_t>(i * 3 + f)] = i;
    const auto out = lookup(*t, ids);
    std::set<std::vector<float>> rows;
    for (Index i = 0; i < n; ++i) rows.insert({out.begin() + (i * 3 + f) * 4, out.begin() + (i * 3 + f + 1) * 4});
    CHECK(static_cast<Index>(rows.size()) == n);
  }
}
