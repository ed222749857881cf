// dedup: sizing from the budget, the deduplication stage (remap, shared rows, summed
// gradients), the runtime limit when the table has too few duplicates, and the remapped serving
// form. The block search itself: dedup_blocks_test.cpp.
#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include "embcomp/methods/dedup.hpp"
#include "dedup_support.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<DedupTable> make_dedup(const std::string& options, double ratio, Schema schema) {
  return make_method<DedupTable>("dedup" + options, {schema, Budget{ratio}, 3});
}

}  // namespace

TEST_CASE("dedup: the budget sets the duplicates wanted, one kept block is the limit",
          "[methods][dedup]") {
  const Schema schema{{600, 40}, 4};  // 640 rows: block_rows auto = 10, 64 blocks
  const auto t = make_dedup("", 4.0, schema);
  CHECK(t->blocks() == 64);
  // 4x: 2560 B; the remap takes 256, a block 160: 14 kept, 50 duplicates.
  CHECK(t->duplicates_wanted() == 64 - (2560 - 256) / 160);
  try {
    make_dedup("", 1000.0, schema);
    FAIL("1000x cannot fit one block and the remap");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == Approx(640.0 * 4 * 4 / (160 + 256)));
  }
}

TEST_CASE("dedup: the stage change merges blocks, shares their rows and sums their gradients",
          "[methods][dedup]") {
  const Schema schema{{24, 4}, 3};  // 28 rows, block_rows 4: 7 blocks as planted above
  auto t = make_dedup(":block_rows=4", 1.3, schema);
  const auto w = planted_table({-1, -1, -1, 0, 1, 0, -1}, 4, 3, 0.004f);
  std::copy(w.begin(), w.end(), t->parameters()[0]->data());
  REQUIRE(t->duplicates_wanted() >= 1);
  REQUIRE(t->duplicates_wanted() <= 3);
  t->begin_stage(1);
  REQUIRE(t->deduplicated());
  CHECK(static_cast<double>(t->memory().serving_bytes) <= t->budget().bytes(schema));

  // Ids in a merged block read its kept block: id 12 (block 3) reads what id 0 (block 0) reads.
  const std::vector<Index> a = {12, 0}, b = {0, 0};
  const auto ea = lookup(*t, a), eb = lookup(*t, b);
  CHECK(std::equal(ea.begin(), ea.begin() + 3, eb.begin()));

  // Their gradients land on the same row, summed.
  const std::vector<Index> both = {0, 0, 12, 0};
  std::vector<float> dE(12, 0.0f);
  dE[0] = 1.0f;  // sample 0, field 0, column 0
  dE[6] = 2.0f;  // sample 1, field 0, column 0
  Gradients grads;
  t->backward(batch_of(both, schema), {dE.data(), 4, 3}, grads);
  REQUIRE(grads.sparse.size() == 1);
  bool found = false;
  for (Index i = 0; i < grads.sparse[0].count(); ++i) {
    if (grads.sparse[0].row(i)[0] == 3.0f) found = true;
  }
  CHECK(found);

  // The serving form and the deduplicated table's checkpoint.
  auto frozen = t->freeze();
  CHECK(frozen->spec() == "remapped:of=dedup,block_rows=4");
  const std::vector<Index> ids = {23, 3, 5, 1, 17, 0};
  CHECK(lookup(*frozen, ids) == lookup(*t, ids));
  std::stringstream file;
  t->save(file);
  auto loaded = load_table(file);
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
  CHECK(loaded->memory().serving_bytes == t->memory().serving_bytes);
}

TEST_CASE("dedup: too few near-duplicates is an infeasible budget naming what they reach",
          "[methods][dedup]") {
  const Schema schema{{24, 4}, 3};
  auto t = make_dedup(":block_rows=4", 1.3, schema);
  const auto w = planted_table({-1, -1, -1, -1, -1, -1, -1}, 4, 3, 0.0f);
  std::copy(w.begin(), w.end(), t->parameters()[0]->data());
  try {
    t->begin_stage(1);
    FAIL("no block has a near-duplicate");
  } catch (const InfeasibleBudget& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("0 of 7 blocks") != std::string::npos);
    // Nothing merged: 7 blocks of 4 rows x 3 floats and 7 remap entries.
    CHECK(e.limit_ratio() == Approx(28.0 * 3 * 4 / (7 * 48 + 7 * 4)));
  }
  CHECK_FALSE(t->deduplicated());
}
