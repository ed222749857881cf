#include <catch2/catch.hpp>

#include "embcomp/optim/sgd.hpp"
#include "cafe_support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

const Parameter& param(const EmbeddingTable& t, const std::string& name) {
  for (const Parameter* p : t.parameters()) {
    if (p->name() == name) return *p;
  }
  FAIL("no parameter " << name);
  throw;
}

}  // namespace

TEST_CASE("cafe-ml: thresholds, levels and the budget split", "[methods][cafe-ml]") {
  auto t = make_table("cafe-ml:threshold=100", {two_fields(), Budget{10}, 1});
  const CafeTable& c = as_cafe(*t);
  CHECK(c.config().levels == 2);
  CHECK(c.config().level_thresholds() == std::vector<float>{20.0f});
  REQUIRE(c.plan().level_rows.size() == 1);
  CHECK(param(*t, "level2").rows() == c.plan().level_rows[0]);
  for (Index i = 0; i < param(*t, "level2").rows() * 8; ++i) REQUIRE(param(*t, "level2").data()[i] == 0.0f);

  auto three = make_table("cafe-ml:threshold=100,levels=3,level_ratio=0.5", {two_fields(), Budget{10}, 1});
  CHECK(as_cafe(*three).config().level_thresholds() == std::vector<float>{50.0f, 25.0f});
  CHECK(as_cafe(*three).plan().level_rows.size() == 2);
  CHECK(static_cast<double>(three->memory().serving_bytes) <= Budget{10}.bytes(two_fields()));

  // level_share moves budget from the per-field level-1 tables to the shared level tables.
  auto more = make_table("cafe-ml:threshold=100,level_share=0.6", {two_fields(), Budget{10}, 1});
  CHECK(as_cafe(*more).plan().level_rows[0] > c.plan().level_rows[0]);
  CHECK(as_cafe(*more).plan().fields[0].rows < c.plan().fields[0].rows);
  CHECK(as_cafe(*more).plan().hot_rows == Approx(c.plan().hot_rows).margin(2));
  CHECK_THROWS_AS(make_table("cafe-ml:levels=1", {two_fields(), Budget{10}, 1}), InvalidArgument);
  CHECK_THROWS_AS(make_table("cafe-ml:level_ratio=1", {two_fields(), Budget{10}, 1}), InvalidArgument);
}

TEST_CASE("cafe-ml: medium features sum their level-1 and level-2 rows", "[methods][cafe-ml]") {
  const Schema s = two_fields();
  // T1 = 10, T2 = 2: id 7 (score 3 after one batch) is medium, id 8 (score 1) is cold.
  auto t = make_table("cafe-ml:threshold=10,importance=frequency", {s, Budget{10}, 1});
  CafeTable& c = as_cafe(*t);
  Sgd sgd(0.5f);
  const auto dE = random_values(64 * 2 * 8, 4);
  train_step(*t, batch_with(3, 64, 0, 8), dE, sgd, 1);
  REQUIRE(c.levels_of(1, 7) == 2);
  REQUIRE(c.levels_of(1, 8) == 1);
  REQUIRE(c.hot_row_of(1, 7) == -1);
  const Index gid7 = s.field_offset(1) + 7;
  const Parameter& rows = param(*t, "rows");
  const Parameter& level2 = param(*t, "level2");
  const Index l2 = gid7 % level2.rows();  // hash=modulo
  // Backward: every occurrence of id 7 adds its dE to both rows it read.
  const auto ids = batch_with(3, 64, 1, 8);
  Gradients grads;
  t->backward(batch_of(ids, s), {dE.data(), 128, 8}, grads);
  std::vector<float> expected(8, 0.0f);
  for (Index b = 0; b < 3; ++b) {
    for (Index k = 0; k < 8; ++k) expected[static_cast<std::size_t>(k)] += dE[static_cast<std::size_t>((b * 2 + 1) * 8 + k)];
  }
  bool found = false;
  for (const auto& g : grads.sparse) {
    if (g.param != &level2) continue;
    REQUIRE(g.count() == 1);  // only id 7 is medium
    CHECK(g.rows[0] == l2);
    for (Index k = 0; k < 8; ++k) CHECK(g.row(0)[k] == Approx(expected[static_cast<std::size_t>(k)]));
    found = true;
  }
  CHECK(found);
  sgd.step(grads);
  t->after_step({2, 0, 0.0, &sgd});  // id 7 reaches 6: still medium
  REQUIRE(c.levels_of(1, 7) == 2);
  // The lookup is the sum of the two rows (level 2 has moved away from 0 now).
  std::vector<Index> probe = {0, 7};
  const auto out = lookup(*t, probe);
  const float* r1 = rows.row(c.hash_row_of(1, 7));
  const float* r2 = level2.row(l2);
  bool moved = false;
  for (Index k = 0; k < 8; ++k) {
    CHECK(out[static_cast<std::size_t>(8 + k)] == r1[k] + r2[k]);
    moved = moved || r2[k] != 0.0f;
  }
  CHECK(moved);
  // Promotion copies the summed embedding into the hot row: the embedding does not jump.
  train_step(*t, batch_with(3, 64, 2, 8), dE, sgd, 3);  // score 9
  const auto ids4 = batch_with(3, 64, 3, 8);
  std::vector<float> out4(ids4.size() * 8);
  t->lookup(batch_of(ids4, s), {out4.data(), 128, 8});
  t->backward(batch_of(ids4, s), {dE.data(), 128, 8}, grads);
  sgd.step(grads);
  const auto before = lookup(*t, probe);
  t->after_step({4, 0, 0.0, &sgd});  // score 12 >= T1: hot
  REQUIRE(c.hot_row_of(1, 7) >= 0);
  CHECK(lookup(*t, probe) == before);
}
