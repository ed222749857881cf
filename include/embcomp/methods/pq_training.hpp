// The straight-through training that product-quantized methods share (dpq, spec
// methods-intra.md §3; mgqe, §4). The derived method stores the codes and decodes them in
// lookup; this base owns the rest.
//
// Storage: "query" Q [N x d] fp32, training-only (every field's rows stacked as in `full`);
// "centroids" [rows x d/D], served: part j's centroid k is row j S + k, S the part stride (K,
// or 0 when every part shares one set of centroids).
// Training forward (forward_impl): per position p of row x and part j,
//   k = argmin over k < candidates(x) of ||Q[x]_j - C_{j,k}||^2 (a row may be limited to the
//   first centroids of each part: mgqe's low-frequency rows); out_j = C_{j,k}; code (x, j) = k
//   is stored (the last position of x in the batch wins, as the reference's atomic write);
//   reg = mean over the batch's [B F x d] entries of (out - Q[x])^2, the auxiliary loss (each
//   position's squares summed in double, then the positions in order: kernels::quantize_position).
// Backward is a surrogate (exact_gradient() is false): the straight-through estimator gives
//   dQ[x] = sum of dE_p over the positions of x (out = q + stop_grad(out - q)), and the
//   centroids get only the regulariser's gradient, dC_{j,k} = sum over positions assigned k
//   in part j of 2 (C_{j,k} - Q[x]_j) / (B F d) (argmax blocks the rest, as in the reference).
// Codes are assigned for every row at construction (assign_all_codes) and again at finalize()
// from the final Q and centroids (the reference left code 0 for every id never seen).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/pq.hpp"
#include "embcomp/serving/grouped_pq_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class StraightThroughPq : public EmbeddingTable {
 public:
  bool exact_gradient() const override { return false; }
  double auxiliary_loss() const override { return regulariser_; }

  /// D, and the centroid rows between part j's and part j + 1's (0: shared centroids).
  Index parts() const { return parts_; }
  Index part_stride() const { return part_stride_; }
  /// Codes packed in two frequency groups (kernels/pq.hpp): the arrays by group, high then low
  /// (dpq's one array is its high group), the split that locates a row's codes there (dpq: every
  /// row high, at its own rank), and the centroids a high and a low row may take.
  struct GroupedCodes {
    std::vector<std::vector<std::uint64_t>*> arrays;
    FrequencySplit split;
    Index high_candidates = 2;
    Index low_candidates = 2;
  };
  /// This quantizer's codes in that form, for a twin that trains on the device (cuda::PqTable)
  /// to read and write; none for codes kept otherwise.
  virtual std::optional<GroupedCodes> grouped_codes() { return std::nullopt; }

 protected:
  /// Registers "query" [N x d] and "centroids" [centroid_rows x d/parts], both U(±b) (b the
  /// default init bound) from the seed.
  StraightThroughPq(const TableArgs& args, Index parts, Index centroid_rows, Index part_stride)
      : EmbeddingTable(args),
        parts_(parts),
        part_stride_(part_stride),
        query_(add_parameter("query", args.schema.total_rows(), args.schema.dim, ParamKind::rows, {},
                             ParamTraits{ParamRole::training_only})),
        centroids_(add_parameter("centroids", centroid_rows, args.schema.dim / parts, ParamKind::dense)),
        offsets_(args.schema.field_offsets()) {
    const float bound = default_init_bound(args.schema);
    query_.fill_uniform(bound, args.seed);
    centroids_.fill_uniform(bound, kernels::combine(args.seed, 0xce47ULL));
  }

  /// How many centroids of each part row `row` (of field `field`) may take: the first ones.
  virtual Index candidates(Index field, Index row) const = 0;
  /// Stores code k of part j of row `row` (of field `field`); called serially.
  virtual void store_code(Index field, Index row, Index j, std::uint32_t k) = 0;

  /// The training forward: nearest centroids of the current queries, codes stored.
  void forward_impl(const IdBatch& ids, Matrix out) override {
    assign(ids);
    for (Index p = 0; p < ids.size(); ++p) {  // serial: neighbouring codes share words
      for (Index j = 0; j < parts_; ++j) {
        store_code(ids.field_of(p), row_of(ids, p), j, static_cast<std::uint32_t>(assigned(p, j)));
      }
    }
    const Index w = part_width(), d = dim();
    squares_.resize(static_cast<std::size_t>(ids.size()));
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      squares_[static_cast<std::size_t>(p)] =
          kernels::quantize_position(query_.row(row_of(ids, p)), centroids_.data(), part_stride_,
                                     parts_, w, assigned_.data() + p * parts_, out.row(p));
    }
    double squares = 0.0;  // positions in order: the same sum for any thread count, as the device's
    for (const double s : squares_) squares += s;
    regulariser_ = ids.size() > 0 ? squares / static_cast<double>(ids.size() * d) : 0.0;
  }

  /// The surrogate gradients of the file comment.
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    assign(ids);
    const Index count = ids.size(), w = part_width();
    rows_.resize(static_cast<std::size_t>(count));
    for (Index p = 0; p < count; ++p) rows_[static_cast<std::size_t>(p)] = row_of(ids, p);
    scatter_output_grad(query_, rows_, dE, groups_, grads);
    DenseGrad& g = grads.dense_for(centroids_);
    const float scale = 2.0f / static_cast<float>(std::max<Index>(1, count * dim()));
    for (Index p = 0; p < count; ++p) {
      const float* q = query_.row(rows_[static_cast<std::size_t>(p)]);
      for (Index j = 0; j < parts_; ++j) {
        const Index k = assigned(p, j);
        const float* c = centroid(j, k);
        float* gc = g.values.data() + (j * part_stride_ + k) * w;
        for (Index i = 0; i < w; ++i) gc[i] += scale * (c[i] - q[j * w + i]);
      }
    }
  }

  void on_finalize() override { assign_all_codes(); }

  /// Every row's codes from its query (the derived constructor, once its code storage exists,
  /// and finalize).
  void assign_all_codes() {
    const Index w = part_width();
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(schema().total_rows() * parts_));
    for (Index f = 0; f < schema().num_fields(); ++f) {
      const Index first = offsets_[static_cast<std::size_t>(f)];
#pragma omp parallel for schedule(static)
      for (Index x = first; x < first + schema().cardinalities[static_cast<std::size_t>(f)]; ++x) {
        const Index K = candidates(f, x);
        for (Index j = 0; j < parts_; ++j) {
          codes[static_cast<std::size_t>(x * parts_ + j)] = static_cast<std::uint8_t>(
              kernels::nearest_centroid(query_.row(x) + j * w, centroid(j, 0), K, w));
        }
      }
      for (Index x = first; x < first + schema().cardinalities[static_cast<std::size_t>(f)]; ++x) {
        for (Index j = 0; j < parts_; ++j) store_code(f, x, j, codes[static_cast<std::size_t>(x * parts_ + j)]);
      }
    }
  }

  /// The stacked row of position p.
  Index row_of(const IdBatch& ids, Index p) const {
    return offsets_[static_cast<std::size_t>(ids.field_of(p))] + ids[p];
  }
  Index part_width() const { return dim() / parts_; }
  const Parameter& centroids() const { return centroids_; }

 private:
  /// Part j's centroid k, [d/D].
  const float* centroid(Index j, Index k) const {
    return centroids_.data() + (j * part_stride_ + k) * part_width();
  }
  Index assigned(Index p, Index j) const { return assigned_[static_cast<std::size_t>(p * parts_ + j)]; }

  /// assigned_[p D + j] = the nearest of the candidate centroids of part j of p's query.
  void assign(const IdBatch& ids) {
    const Index count = ids.size(), w = part_width();
    assigned_.resize(static_cast<std::size_t>(count * parts_));
#pragma omp parallel for schedule(static) if (count > 1024)
    for (Index p = 0; p < count; ++p) {
      const Index x = row_of(ids, p), K = candidates(ids.field_of(p), x);
      for (Index j = 0; j < parts_; ++j) {
        assigned_[static_cast<std::size_t>(p * parts_ + j)] =
            kernels::nearest_centroid(query_.row(x) + j * w, centroid(j, 0), K, w);
      }
    }
  }

  Index parts_;
  Index part_stride_;
  Parameter& query_;
  Parameter& centroids_;
  std::vector<Index> offsets_;
  std::vector<Index> assigned_;   ///< scratch: [B F x D] nearest centroids
  std::vector<Index> rows_;       ///< scratch: row of each position
  std::vector<double> squares_;   ///< scratch: each position's squared distance to its centroids
  kernels::RowGroups groups_;
  double regulariser_ = 0.0;      ///< of the last forward
};

}  // namespace embcomp
