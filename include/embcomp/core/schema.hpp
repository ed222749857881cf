// Schema (per-field cardinalities and embedding dim) and Budget (a compression ratio).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

/// What a table embeds: field f has ids [0, cardinalities[f]), each mapped to `dim` floats.
struct Schema {
  std::vector<Index> cardinalities;
  Index dim = 16;

  Index num_fields() const { return static_cast<Index>(cardinalities.size()); }
  /// N = sum of n_f: the rows of the uncompressed tables.
  Index total_rows() const {
    Index n = 0;
    for (Index c : cardinalities) n += c;
    return n;
  }
  Index max_cardinality() const {
    Index m = 0;
    for (Index c : cardinalities) m = c > m ? c : m;
    return m;
  }
  /// Bytes of the uncompressed fp32 tables: N * dim * 4.
  double full_bytes() const {
    return static_cast<double>(total_rows()) * static_cast<double>(dim) * 4.0;
  }
  /// field_offset of every field, [F] (stacked-table methods keep it for their lookups).
  std::vector<Index> field_offsets() const {
    std::vector<Index> offsets;
    Index o = 0;
    for (Index n : cardinalities) {
      offsets.push_back(o);
      o += n;
    }
    return offsets;
  }
  /// Offset of field f's first row when all fields are stacked into one [N x d] table.
  Index field_offset(Index f) const {
    Index o = 0;
    for (Index i = 0; i < f; ++i) o += cardinalities[i];
    return o;
  }

  /// Throws InvalidArgument unless there is at least one field, every n_f >= 1 and dim >= 1.
  void validate() const {
    if (cardinalities.empty()) throw InvalidArgument("schema: at least one field is needed");
    for (std::size_t f = 0; f < cardinalities.size(); ++f) {
      if (cardinalities[f] < 1) {
        throw InvalidArgument("schema: field " + std::to_string(f) + " has cardinality " +
                              std::to_string(cardinalities[f]) + "; it must be >= 1");
      }
    }
    if (dim < 1) throw InvalidArgument("schema: dim " + std::to_string(dim) + " must be >= 1");
  }

  bool operator==(const Schema&) const = default;
};

/// A memory budget given as a compression ratio R: the serving form of a table may use at most
/// full fp32 table bytes / R. R = 1 is the uncompressed size; R = 100 is 100x smaller.
struct Budget {
  double ratio = 1.0;

  /// The byte limit for `schema` (floor of full_bytes / ratio).
  double bytes(const Schema& schema) const { return std::floor(schema.full_bytes() / ratio); }

  /// Throws InvalidArgument unless ratio is finite and >= 1.
  void validate() const {
    if (!std::isfinite(ratio) || ratio < 1.0) {
      throw InvalidArgument("budget: compression ratio " + std::to_string(ratio) +
                            " must be finite and >= 1 (1 = uncompressed)");
    }
  }
};

}  // namespace embcomp
