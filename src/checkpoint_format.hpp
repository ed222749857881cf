// What both kinds of checkpoint file share (private to src/): the two magics and the table's
// identity (spec, schema, budget ratio, seed), written and read in one place.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "embcomp/core/serialize.hpp"
#include "embcomp/table.hpp"

namespace embcomp::checkpoint_format {

inline constexpr std::array<char, 8> kTableMagic = {'E', 'M', 'B', 'C', 'O', 'M', 'P', '\0'};
inline constexpr std::array<char, 8> kTrainingMagic = {'E', 'M', 'B', 'T', 'R', 'A', 'I', 'N'};
inline constexpr std::uint64_t kMaxFields = 1 << 20;
inline constexpr Index kMaxCardinality = Index{1} << 40;
inline constexpr Index kMaxDim = Index{1} << 16;
inline constexpr Index kMaxTableFloats = Index{1} << 56;  ///< total rows x dim

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

/// Reads what write_table_identity wrote; a field count of 0 or above 2^20, a cardinality
/// outside [1, 2^40], a dim outside [1, 2^16], more than 2^56 table values or a ratio that is
/// not finite and >= 1 is damage.
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
  // The header digest only proves the header is undamaged, not that its sizes are sane: a
  // table is built from them, so sizes whose products overflow are refused here.
  const Schema& schema = id.args.schema;
  if (schema.dim < 1 || schema.dim > kMaxDim) {
    throw CheckpointError("checkpoint damaged: dim " + std::to_string(schema.dim) +
                          " is outside [1, " + std::to_string(kMaxDim) + "]");
  }
  Index rows = 0;
  for (std::size_t f = 0; f < schema.cardinalities.size(); ++f) {
    const Index n = schema.cardinalities[f];
    if (n < 1 || n > kMaxCardinality) {
      throw CheckpointError("checkpoint damaged: field " + std::to_string(f) + " has " +
                            std::to_string(n) + " ids; it must be in [1, 2^40]");
    }
    rows += n;  // at most 2^20 fields of 2^40 ids: no overflow
  }
  if (rows > kMaxTableFloats / schema.dim) {
    throw CheckpointError("checkpoint damaged: " + std::to_string(rows) + " rows of dim " +
                          std::to_string(schema.dim) + " exceed 2^56 values");
  }
  if (!(id.args.budget.ratio >= 1.0) || !std::isfinite(id.args.budget.ratio)) {
    throw CheckpointError("checkpoint damaged: budget ratio " +
                          std::to_string(id.args.budget.ratio) + " is not finite and >= 1");
  }
  return id;
}

}  // namespace embcomp::checkpoint_format
