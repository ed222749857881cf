// full: the stacked layout (field f's id i at row offset_f + i) against a naive lookup, the
// budget (ratio 1 only), and a training step touching exactly the rows looked up.
#include <catch2/catch.hpp>

#include <map>

#include "embcomp/methods/full.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("full: lookups read the stacked rows, field by field", "[methods][full]") {
  const Schema schema = small_schema();
  auto table = make_method<FullTable>("full", {schema, Budget{1.0}, 4});
  const Parameter& rows = *std::as_const(*table).parameters().at(0);
  REQUIRE(rows.rows() == schema.total_rows());
  const auto ids = random_ids(schema, 20, 6);
  const auto out = lookup(*table, ids);
  for (std::size_t p = 0; p < ids.size(); ++p) {
    const Index f = static_cast<Index>(p) % schema.num_fields();
    const float* expected = rows.row(schema.field_offset(f) + ids[p]);
    for (Index c = 0; c < schema.dim; ++c) {
      REQUIRE(out[p * static_cast<std::size_t>(schema.dim) + static_cast<std::size_t>(c)] == expected[c]);
    }
  }
  CHECK(table->memory().serving_bytes == static_cast<std::size_t>(schema.full_bytes()));
}

TEST_CASE("full: any ratio above 1 is infeasible, naming 1", "[methods][full]") {
  try {
    make_table("full", {small_schema(), Budget{1.01}, 1});
    FAIL("a full table cannot be smaller than itself");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == 1.0);
  }
}

TEST_CASE("full: backward gives one summed row per distinct id", "[methods][full]") {
  const Schema schema{{10, 3}, 2};
  auto table = make_table("full", {schema, Budget{1.0}, 1});
  const std::vector<Index> ids = {4, 2, 4, 0, 7, 2};  // ids 4 and 2 twice in fields 0 and 1
  const std::vector<float> dE = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  Gradients grads;
  table->backward(batch_of(ids, schema), {dE.data(), 6, 2}, grads);
  REQUIRE(grads.sparse.size() == 1);
  const SparseGrad& g = grads.sparse[0];
  // Rows: field 0 at 0..9 (ids 4, 4, 7), field 1 at 10..12 (ids 2, 0, 2 -> rows 12, 10, 12).
  std::map<Index, std::vector<float>> by_row;
  for (Index i = 0; i < g.count(); ++i) by_row[g.rows[i]] = {g.row(i)[0], g.row(i)[1]};
  CHECK(by_row == std::map<Index, std::vector<float>>{
                      {4, {1 + 5, 2 + 6}}, {7, {9, 10}}, {10, {7, 8}}, {12, {3 + 11, 4 + 12}}});
}
