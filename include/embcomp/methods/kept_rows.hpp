// Per-field kept rows at per-field widths, every other id a zero vector: field f keeps h_f of
// its n_f ids (a set, methods/id_sets.hpp) and stores their rows R_f [h_f x w_f], w_f <= d:
//   out[p] = (R_f[rank(x)], 0, ..., 0)   when id x of field f is kept (rank: kept ids below x)
//   out[p] = 0                           otherwise
// Backward: dR_f[rank(x)] = the first w_f entries of dE[p], summed per kept id; pruned ids get
// nothing. Written once for optembed after its search and its serving form
// (serving/kept_rows_table.hpp). A field that keeps nothing still holds one row [1 x w_f]
// (a parameter has at least one row), never read.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/row_table.hpp"
#include "embcomp/methods/id_sets.hpp"

namespace embcomp {

/// One field's layout, index state [F] of the owning table.
struct KeptField {
  std::int64_t kept = 0;        ///< h_f: ids with a row
  std::int64_t width = 1;       ///< w_f: stored entries per row (the rest of d is zero)
  std::int64_t set = 0;         ///< HotSet of the kept ids
  std::int64_t set_offset = 0;  ///< where the set is stored (IdSets::store)
};

/// Bytes a field of n ids keeping h at width w serves: its rows (at least one), its set in the
/// cheapest encoding and its layout entry.
inline double kept_field_bytes(Index n, Index h, Index w, HotSet set) {
  return 4.0 * static_cast<double>(std::max<Index>(h, 1) * w) + id_set_bytes(n, h, set) +
         static_cast<double>(sizeof(KeptField));
}

class KeptRows {
 public:
  /// Views of the owning table's storage: the layout [F], the sets' arrays, and rows[f] the
  /// registered (reshapeable) parameter of field f.
  KeptRows(IndexArray<KeptField>& fields, IndexArray<std::uint32_t>& ids,
           IndexArray<std::uint64_t>& words, IndexArray<std::uint32_t>& ranks,
           std::vector<Parameter*> rows)
      : fields_(fields), sets_(ids, words, ranks), rows_(std::move(rows)) {}

  /// Whether a layout is stored (false until the first assign after clear()).
  bool built() const { return fields_.size() == rows_.size(); }
  const KeptField& field(Index f) const { return fields_[static_cast<std::size_t>(f)]; }
  Parameter& rows(Index f) { return *rows_[static_cast<std::size_t>(f)]; }
  const Parameter& rows(Index f) const { return *rows_[static_cast<std::size_t>(f)]; }
  Index fields() const { return static_cast<Index>(rows_.size()); }

  /// Forgets every field's layout and set (the rows keep their shapes until reassigned).
  void clear() {
    fields_.values.clear();
    sets_.clear();
  }

  /// Lays out the next field (fields in order, from 0, after clear()): `members` (increasing)
  /// of its n ids keep rows of `width`; its rows are reshaped to [max(h, 1) x width] and zeroed,
  /// for the caller to fill (row k: the k-th member). Returns the field's bytes.
  double assign(Index n, std::span<const std::uint32_t> members, Index width) {
    const auto f = static_cast<Index>(fields_.size());
    const auto h = static_cast<Index>(members.size());
    const HotSet set = cheapest_id_set(n, members);
    KeptField layout;
    layout.kept = h;
    layout.width = width;
    layout.set = static_cast<std::int64_t>(set);
    layout.set_offset = sets_.store(set, n, members);
    fields_.values.push_back(layout);
    rows(f).reshape(std::max<Index>(h, 1), width);
    rows(f).fill(0.0f);
    return kept_field_bytes(n, h, width, set);
  }

  /// The stored row of id in field f, or -1 when the id is pruned.
  Index row_of(Index f, Index id) const {
    const KeptField& k = field(f);
    const kernels::HotRows hot{k.kept, 0, static_cast<HotSet>(k.set), k.set_offset};
    const kernels::HotRank at = kernels::hot_rank(hot, sets_.view(), id);
    return at.hot ? static_cast<Index>(at.rank) : -1;
  }

  /// Field f's kept ids of its n, increasing.
  std::vector<std::uint32_t> members(Index f, Index n) const {
    std::vector<std::uint32_t> out;
    for (Index id = 0; id < n && static_cast<Index>(out.size()) < field(f).kept; ++id) {
      if (row_of(f, id) >= 0) out.push_back(static_cast<std::uint32_t>(id));
    }
    return out;
  }

  /// out[B*F x d] for ids[B x F]; thread-safe.
  void lookup(const IdBatch& ids, Matrix out) const {
    const Index D = out.cols;
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      const Index f = ids.field_of(p);
      const Index r = row_of(f, ids[p]);
      float* o = out.row(p);
      std::fill_n(o, D, 0.0f);
      if (r >= 0) std::copy_n(rows(f).row(r), rows(f).width(), o);
    }
  }

  /// Gradients of every field's rows for dE[B*F x d].
  void backward(const IdBatch& ids, ConstMatrix dE, Gradients& grads) {
    const Index F = ids.fields;
    for (Index f = 0; f < F; ++f) {
      positions_.clear();
      kept_rows_.clear();
      for (Index b = 0; b < ids.batch; ++b) {
        const Index r = row_of(f, ids[b * F + f]);
        if (r < 0) continue;
        positions_.push_back(b * F + f);
        kept_rows_.push_back(r);
      }
      if (kept_rows_.empty()) continue;
      const Index w = rows(f).width();
      scatter_param_grad(rows(f), kept_rows_, groups_, grads, [&](Index k, float* acc) {
        const float* g = dE.row(positions_[static_cast<std::size_t>(k)]);
        for (Index j = 0; j < w; ++j) acc[j] += g[j];
      });
    }
  }

  /// Throws CheckpointError unless the stored layout is consistent with n (the fields'
  /// cardinalities), d and the rows' shapes, so that a damaged file cannot make a lookup read
  /// out of bounds.
  void check(const std::vector<Index>& n, Index d, const std::string& what) const {
    if (!built()) throw CheckpointError("checkpoint damaged: " + what + " kept-row layout");
    sets_.check_arrays(what);
    for (Index f = 0; f < fields(); ++f) {
      const KeptField& k = field(f);
      const std::string name = what + " field " + std::to_string(f);
      if (k.width < 1 || k.width > d || rows(f).width() != k.width || k.kept < 0 ||
          rows(f).rows() != std::max<Index>(k.kept, 1)) {
        throw CheckpointError("checkpoint damaged: " + name + " rows");
      }
      sets_.check(k.set, n[static_cast<std::size_t>(f)], k.kept, k.set_offset, name + " kept ids");
    }
  }

 private:
  IndexArray<KeptField>& fields_;
  IdSets sets_;
  std::vector<Parameter*> rows_;
  // backward scratch, reused from batch to batch
  std::vector<Index> positions_;  ///< positions of field f with a kept id
  std::vector<Index> kept_rows_;  ///< their rows
  kernels::RowGroups groups_;
};

}  // namespace embcomp
