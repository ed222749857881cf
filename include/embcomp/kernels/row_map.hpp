// Which stored row a per-field id reads, for tables whose embedding is one row of one array
// (full, hash: field_row; adaembed's hot and cold ids: routed_row; dedup's kept blocks:
// BlockRemap): both backends call these, so the CPU and CUDA tables agree by construction.
#pragma once

#include <cstdint>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/host_device.hpp"
#include "embcomp/kernels/rank_bitset.hpp"

namespace embcomp::kernels {

/// How a field stores its hot set: nothing (its hot ids are its first ids, a rank prefix), a
/// sorted id list, or a ranked bitset (kernels/rank_bitset.hpp).
enum class HotSet : std::int64_t { prefix = 0, sorted = 1, bitset = 2 };

/// A field's hot ids, which read exclusive rows: the r-th hot id (in id order) reads base + r.
/// count = 0 (the default): none.
struct HotRows {
  Index count = 0;
  Index base = 0;
  HotSet set = HotSet::prefix;
  Index offset = 0;  ///< first entry of its set in HotSets::ids (sorted) or ::words/::ranks
};

/// Where every field's stored hot sets are (null where none is stored).
struct HotSets {
  const std::uint32_t* ids = nullptr;    ///< sorted sets, one after another
  const std::uint64_t* words = nullptr;  ///< bitsets, ceil(n_f / 64) words each
  const std::uint32_t* ranks = nullptr;  ///< the bitsets' rank per word
};

/// Whether an id is hot, and how many hot ids are below it.
struct HotRank {
  bool hot = false;
  std::uint64_t rank = 0;
};

EMBCOMP_HD HotRank hot_rank(const HotRows& h, const HotSets& sets, Index id) {
  const auto x = static_cast<std::uint64_t>(id);
  const auto count = static_cast<std::uint64_t>(h.count);
  switch (h.set) {
    case HotSet::sorted: {
      const std::uint32_t* list = sets.ids + h.offset;
      const std::uint64_t rank = sorted_rank(list, count, x);
      return {rank < count && list[rank] == x, rank};
    }
    case HotSet::bitset:
      return {bitset_contains(sets.words + h.offset, x),
              bitset_rank(sets.words + h.offset, sets.ranks + h.offset, x)};
    case HotSet::prefix:
      break;
  }
  return {x < count, x < count ? x : count};
}

/// Where one field's ids go: key = id + key_offset; an unhashed field reads row base + key, a
/// hashed one row base + bucket(key, rows, seed, kind). With hot rows (routed_row), a hot id
/// reads its exclusive row and a cold one goes by its cold ordinal (id - hot ids below it).
struct FieldRows {
  Index base = 0;
  Index rows = 0;
  Index key_offset = 0;
  std::uint64_t seed = 0;
  HashKind kind = HashKind::modulo;
  bool hashed = true;
  HotRows hot{};
};

/// The stored row of local id `id` (in [0, n_f)) of the field described by `f`.
EMBCOMP_HD Index field_row(const FieldRows& f, Index id) {
  const auto key = static_cast<std::uint64_t>(id + f.key_offset);
  if (!f.hashed) return f.base + static_cast<Index>(key);
  return f.base + static_cast<Index>(bucket(key, static_cast<std::uint64_t>(f.rows), f.seed, f.kind));
}

/// The stored row of local id `id` in a field that may have hot rows (`f.hot`, whose sets are in
/// `sets`): base + rank for a hot id, else field_row of its cold ordinal. field_row where
/// f.hot.count = 0.
EMBCOMP_HD Index routed_row(const FieldRows& f, const HotSets& sets, Index id) {
  const HotRank at = hot_rank(f.hot, sets, id);
  if (at.hot) return f.hot.base + static_cast<Index>(at.rank);
  return field_row(f, id - static_cast<Index>(at.rank));
}

/// The field maps of a table that stacks every field's rows unhashed (full; dedup before its
/// blocks are merged): field f's id i reads row offsets[f] + i.
inline std::vector<FieldRows> stacked_fields(const std::vector<Index>& offsets) {
  std::vector<FieldRows> fields;
  for (const Index offset : offsets) fields.push_back({offset, 0, 0, 0, {}, false, {}});
  return fields;
}

/// A block remap (dedup and its serving form): the stacked table's rows in blocks of
/// `block_rows`, every block read from a kept one. Row x reads
/// remap[x / block_rows] * block_rows + x mod block_rows; every row as it is where remap is null.
struct BlockRemap {
  const std::int32_t* remap = nullptr;  ///< [blocks], each in [0, kept blocks)
  Index block_rows = 1;

  EMBCOMP_HD Index row_of(Index x) const {
    if (remap == nullptr) return x;
    return static_cast<Index>(remap[x / block_rows]) * block_rows + x % block_rows;
  }
};

}  // namespace embcomp::kernels
