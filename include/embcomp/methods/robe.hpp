// robe: ROBE-Z, the random offset block embedding (spec methods-inter.md §5; Desai et al.,
// MLSys'22). Every embedding lives in one shared circular array M of S floats: the d elements
// of id x are read as Z chunks of L = d / Z cells, each chunk a contiguous window at a
// universal-hash offset, and every element carries a hashed sign (kernels/robe.hpp):
//   out[p][j] = sign(x, e, j) * M[location(x, e, j)]
// with x the global id (field offset + local id), as the reference (use_multi = 0, global ids).
//
// Sizing: S = floor(budget / 4 bytes), at most N * d (the array never holds more cells than a
// full table). Any ratio reaches a nonempty array, so robe meets every budget of at least one
// float.
//
// Backward: a signed sparse scatter. The B*F*d cells read are grouped (duplicates summed,
// kernels::RowGroups) and each unique cell gets the sum of sign * dE over the elements that
// read it; the optimizer steps M as rows of width 1 (lazy Adam per cell, as the reference).
//
// The hash constants r1..r8 are drawn from the table's seed (kept in every checkpoint), like
// hash's xxhash seed: nothing to store.
//
// Options: `chunks` is Z (it must divide d; the reference's default 1 reads one window of d
// cells); `slot=true` adds the field terms r4 e and r8 e to the hashes (the reference's
// use_slot_coef, off by default because the ids are already global). Init: the trainer's U(±b),
// b = 1 / sqrt(max n_f), as the reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/robe.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class RobeTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "robe";
  static constexpr const char* kSummary =
      "ROBE-Z: every embedding read as signed windows of one shared circular array";
  static std::vector<OptionInfo> option_info() {
    return {{"chunks", "1", "Z: windows per embedding (a divisor of d; each d/Z cells long)"},
            {"slot", "false", "add a per-field term to the hashes (use_slot_coef)"}};
  }

  RobeTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        hash_(kernels::make_robe_hash(kernels::combine(args.seed, 0x20beULL), array_size(args),
                                      chunk_length(args.schema.dim, options.integer("chunks")),
                                      options.flag("slot"))),
        array_(add_parameter("array", hash_.size, 1, ParamKind::rows)),
        offsets_(args.schema.field_offsets()) {
    array_.fill_uniform(default_init_bound(args.schema), args.seed);
  }

  /// S: cells of the circular array.
  Index size() const { return static_cast<Index>(hash_.size); }
  const kernels::RobeHash& hash() const { return hash_; }

  /// The array M as a [S x 1] parameter: M[i] = array().data()[i].
  const Parameter& array() const { return array_; }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    const Index d = dim();
    const float* cells = array_.data();
#pragma omp parallel if (ids.size() > 1024)
    {
      std::vector<Index> where(static_cast<std::size_t>(d));
      std::vector<float> sign(static_cast<std::size_t>(d));
#pragma omp for schedule(static)
      for (Index p = 0; p < ids.size(); ++p) {
        cells_of(ids, p, where.data(), sign.data());
        float* row = out.row(p);
        for (Index j = 0; j < d; ++j) row[j] = sign[j] * cells[where[j]];
      }
    }
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    const Index d = dim();
    cells_.resize(static_cast<std::size_t>(ids.size() * d));
    signs_.resize(cells_.size());
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) cells_of(ids, p, cells_.data() + p * d, signs_.data() + p * d);
    // dE is [B*F x d] row-major, so element i = p * d + j is dE.data[i].
    scatter_param_grad(array_, cells_, groups_, grads, [&](Index i, float* acc) {
      acc[0] += signs_[i] * dE.data[i];
    });
  }

 private:
  /// floor(budget / 4) cells, at most N * d; InfeasibleBudget below one cell.
  static std::int64_t array_size(const TableArgs& args) {
    require_budget(kKey, sizeof(float), args);
    const double cells = std::floor(args.budget.bytes(args.schema) / sizeof(float));
    return static_cast<std::int64_t>(std::min(cells, static_cast<double>(args.schema.total_rows() *
                                                                          args.schema.dim)));
  }

  /// L = d / Z; InvalidArgument unless Z is a divisor of d.
  static std::int64_t chunk_length(Index d, long long chunks) {
    if (chunks < 1 || d % chunks != 0) {
      throw InvalidArgument("robe: chunks=" + std::to_string(chunks) +
                            " must be a positive divisor of dim " + std::to_string(d));
    }
    return d / chunks;
  }

  /// The d cells (and signs) position p of ids reads.
  void cells_of(const IdBatch& ids, Index p, Index* where, float* sign) const {
    const Index field = ids.field_of(p);
    kernels::robe_cells(hash_, offsets_[field] + ids[p], field, dim(), where, sign);
  }

  kernels::RobeHash hash_;
  Parameter& array_;
  std::vector<Index> offsets_;

  // backward scratch: the cell and sign of every element of the batch, reused across batches
  std::vector<Index> cells_;
  std::vector<float> signs_;
  kernels::RowGroups groups_;
};

}  // namespace embcomp
