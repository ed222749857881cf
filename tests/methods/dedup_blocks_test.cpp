// methods/dedup_blocks.hpp: the block search on tables with planted duplicates.
#include <catch2/catch.hpp>

#include <set>

#include "dedup_support.hpp"
#include "embcomp/methods/dedup_blocks.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("dedup blocks: planted duplicates are found and chains resolve", "[methods][dedup]") {
  // Blocks 3 and 5 copy block 0, block 4 copies block 1; the rest are unique.
  const std::vector<Index> source = {-1, -1, -1, 0, 1, 0, -1};
  const Index r = 4, d = 3;
  const auto w = planted_table(source, r, d, 0.004f);
  DedupConfig c;
  c.block_rows = r;
  c.seed = 5;
  const DedupResult all = deduplicate_blocks(w.data(), 7 * r, d, c, 100);
  CHECK(all.duplicates == 3);
  REQUIRE(all.remap.size() == 7);
  CHECK(all.remap[3] == all.remap[0]);
  CHECK(all.remap[5] == all.remap[0]);
  CHECK(all.remap[4] == all.remap[1]);
  CHECK(all.kept_from.size() == 4);
  std::set<std::int32_t> distinct(all.remap.begin(), all.remap.end());
  CHECK(distinct.size() == 4);
  for (std::size_t k = 0; k < all.kept_from.size(); ++k) {
    CHECK(all.remap[static_cast<std::size_t>(all.kept_from[k])] == static_cast<std::int32_t>(k));
  }
  // The search stops once enough duplicates are found.
  CHECK(deduplicate_blocks(w.data(), 7 * r, d, c, 1).duplicates == 1);
  // Noise above fp: no duplicates.
  const auto far = planted_table(source, r, d, 0.5f);
  CHECK(deduplicate_blocks(far.data(), 7 * r, d, c, 100).duplicates == 0);
}

