// What both kinds of checkpoint file share (private to src/): the two magics and the table's
// identity (spec, schema, budget ratio, seed), written and read in one place.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "embcomp/core/serialize.hpp"
#include "embcomp/table.hpp"

namespace embcomp::checkpoint_format {

inline constexpr std::array<char, 8> kTableMagic = {'E', 'M', 'B', 'C', 'O', 'M', 'P', '\0'};
inline constexpr std::array<char, 8> kTrainingMagic = {'E', 'M', 'B', 'T', 'R', 'A', 'I', 'N'};
inline constexpr std::uint64_t kMaxFields = 1 << 20;

/// The table's identity as written in both kinds of header.
struct TableIdentity {
  std::string spec;
  TableArgs args;
};

/// string spec | u64 F | i64 n_f x F | i64 dim | f64 ratio | u64 seed
inline void write_table_identity(Writer& w, const EmbeddingTable& table) {
  w.string(table.spec());
  w.pod(static_cast<std::uint64_t>(table.schema().num_fields()));
  w.bytes(table.schema().cardinalities.data(),
          table.schema().cardinalities.size() * sizeof(Index));
  w.pod(table.schema().dim);
  w.pod(table.budget().ratio);
  w.pod(table.seed());
}

/// Reads what write_table_identity wrote; a field count of 0 or above 2^20 is damage.
inline TableIdentity read_table_identity(Reader& r) {
  TableIdentity id;
  id.spec = r.string(4096);
  const auto fields = r.pod<std::uint64_t>();
  if (fields == 0 || fields > kMaxFields) {
    throw CheckpointError("checkpoint damaged: " + std::to_string(fields) + " fields");
  }
  id.args.schema.cardinalities.resize(fields);
  r.bytes(id.args.schema.cardinalities.data(), fields * sizeof(Index));
  id.args.schema.dim = r.pod<Index>();
  id.args.budget.ratio = r.pod<double>();
  id.args.seed = r.pod<std::uint64_t>();
  return id;
}

}  // namespace embcomp::checkpoint_format
