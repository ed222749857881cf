// Which stored row a per-field id reads, for tables whose embedding is one row of one array
// (full, hash): both backends call field_row, so the CPU and CUDA tables agree by construction.
#pragma once

#include <cstdint>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// Where one field's ids go: key = id + key_offset; an unhashed field reads row base + key, a
/// hashed one row base + bucket(key, rows, seed, kind).
struct FieldRows {
  Index base = 0;
  Index rows = 0;
  Index key_offset = 0;
  std::uint64_t seed = 0;
  HashKind kind = HashKind::modulo;
  bool hashed = true;
};

/// The stored row of local id `id` (in [0, n_f)) of the field described by `f`.
EMBCOMP_HD Index field_row(const FieldRows& f, Index id) {
  const auto key = static_cast<std::uint64_t>(id + f.key_offset);
  if (!f.hashed) return f.base + static_cast<Index>(key);
  return f.base + static_cast<Index>(bucket(key, static_cast<std::uint64_t>(f.rows), f.seed, f.kind));
}

}  // namespace embcomp::kernels
