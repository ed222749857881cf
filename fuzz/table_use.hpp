// What the fuzz targets do with a table they got (from a factory string or a checkpoint): the
// calls a user makes first. Throws what the library throws.
#pragma once

#include <cmath>
#include <memory>
#include <sstream>
#include <vector>

#include "embcomp/registry.hpp"
#include "fuzz_common.hpp"

namespace embcomp::fuzz {

/// Looks up ids 0 and n_f - 1 of every field (at most 64 fields), reads memory() and
/// statistics(); with `round_trip` also saves the table and loads the bytes back.
inline void use_table(const EmbeddingTable& table, bool round_trip) {
  const Schema& schema = table.schema();
  const Index fields = schema.num_fields();
  const Index dim = table.dim();
  if (fields <= 64 && dim >= 1 && dim <= 4096) {
    std::vector<Index> ids;
    for (Index f = 0; f < fields; ++f) ids.push_back(0);
    for (Index f = 0; f < fields; ++f) ids.push_back(schema.cardinalities[static_cast<std::size_t>(f)] - 1);
    std::vector<float> out(static_cast<std::size_t>(2 * fields * dim));
    table.lookup(IdBatch{ids.data(), 2, fields}, Matrix{out.data(), 2 * fields, dim});
  }
  (void)table.memory();
  (void)table.statistics();
  if (round_trip) {
    std::stringstream buffer(std::ios::in | std::ios::out | std::ios::binary);
    table.save(buffer);
    const auto copy = load_table(buffer);  // a table that loaded saves a loadable checkpoint
    EMBCOMP_FUZZ_CHECK(copy->spec() == table.spec());
  }
}

}  // namespace embcomp::fuzz
