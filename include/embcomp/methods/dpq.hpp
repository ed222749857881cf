// dpq: differentiable product quantization, vq mode (spec methods-intra.md §3; Chen et al.,
// ICML 2020). Each embedding is D parts; each part is replaced by the nearest of K centroids,
// so serving needs only the codes (bit-packed) and the centroids (serving/pq_table.hpp).
//
// Storage: "query" Q [N x d] fp32, training-only (every field's rows stacked as in `full`);
// "centroids" [D K x d/D] (or [K x d/D] with shared=true), served; "codes" packed
// ceil(log2 K)-bit codes of every (row, part), served (kernels/pq.hpp layout).
// Training forward (forward_impl): per position p of row x and part j,
//   k = argmin_k ||Q[x]_j - C_{j,k}||^2; out_j = C_{j,k}; code(x, j) = k (the last position of
//   x in the batch wins, as the reference's atomic write);
//   reg = mean over the batch's [B F x d] entries of (out - Q[x])^2, the auxiliary loss.
// Backward is a surrogate (exact_gradient() is false): the straight-through estimator gives
//   dQ[x] = sum of dE_p over the positions of x (out = q + stop_grad(out - q)), and the
//   centroids get only the regulariser's gradient, dC_{j,k} = sum over positions assigned k
//   in part j of 2 (C_{j,k} - Q[x]_j) / (B F d) (argmax blocks the rest, as in the reference).
// Lookup (eval and serving) decodes the stored codes: validation sees the codebook path.
// Sizing: K = centroids (default 32: 5 bits); D = parts, or with parts=auto the largest divisor
// of d whose codes and centroids fit the budget (more parts, finer codes). InfeasibleBudget
// names the ratio of D = 1.
// Departures from the reference: the codes are bit-packed and counted as bits (the reference
// sized codes as int32 units); D follows from the budget (the reference fixed D = 8, K = 32 and
// had no budget); BatchNorm on the responses is left out: per the spec's pitfall it normalises
// per part, the same positive affine map for all K responses, so it never changes the argmin in
// vq mode; codes are assigned for every row at construction and again at finalize() from the
// final Q and centroids (the reference left code 0, centroid 0, for every id never seen in
// training). Only vq mode is built (the spec's default); sx is not.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/pq.hpp"
#include "embcomp/serving/pq_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class DpqTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "dpq";
  static constexpr const char* kSummary =
      "differentiable product quantization: codes + centroids, straight-through training";
  static constexpr const char* kServingForm = PqServingTable::kKey;
  static constexpr bool kStateHoldsFullTable = true;  // checked by load_table
  static std::vector<OptionInfo> option_info() {
    return {{"parts", "auto", "D: parts per embedding (auto: the most that fit the budget)"},
            {"centroids", "32", "K: centroids per part, 2..256"},
            {"shared", "false", "one set of centroids for every part"}};
  }

  DpqTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        layout_(plan(args, options)),
        query_(add_parameter("query", args.schema.total_rows(), args.schema.dim, ParamKind::rows, {},
                             ParamTraits{ParamRole::training_only})),
        centroids_(add_parameter("centroids", layout_.centroid_rows(), layout_.part_width(),
                                 ParamKind::dense)),
        codes_(add_index<std::uint64_t>("codes")) {
    offsets_ = args.schema.field_offsets();
    const float bound = default_init_bound(args.schema);
    query_.fill_uniform(bound, args.seed);
    centroids_.fill_uniform(bound, kernels::combine(args.seed, 0xce47ULL));
    codes_.values.assign(static_cast<std::size_t>(
                             kernels::packed_words(args.schema.total_rows() * layout_.parts, layout_.bits())),
                         0);
    assign_all_codes();
  }

  /// The layout a budget buys: parts=auto takes the largest divisor D of d whose codes and
  /// centroids fit. Throws InfeasibleBudget (D = 1 does not fit) or InvalidArgument.
  static PqLayout plan(const TableArgs& args, const Options& options) {
    PqLayout layout;
    layout.dim = args.schema.dim;
    layout.centroids = static_cast<Index>(options.integer("centroids"));
    layout.shared = options.flag("shared");
    if (layout.centroids < 2 || layout.centroids > 256) {
      throw InvalidArgument("dpq: centroids must be in [2, 256]");
    }
    const Index rows = args.schema.total_rows();
    const double budget = args.budget.bytes(args.schema);
    if (options.text("parts") != "auto") {
      layout.parts = static_cast<Index>(options.integer("parts"));
      if (layout.parts < 1 || layout.dim % layout.parts != 0) {
        throw InvalidArgument("dpq: parts must divide the dim " + std::to_string(layout.dim));
      }
      require_budget(kKey, layout.bytes(rows), args);
      return layout;
    }
    for (Index parts = layout.dim; parts >= 1; --parts) {
      if (layout.dim % parts != 0) continue;
      layout.parts = parts;
      if (layout.bytes(rows) <= budget) return layout;
    }
    throw_infeasible(kKey, layout.bytes(rows), args);  // parts is 1 here
  }

  const PqLayout& layout() const { return layout_; }
  bool exact_gradient() const override { return false; }
  double auxiliary_loss() const override { return regulariser_; }

  std::unique_ptr<EmbeddingTable> freeze() const override {
    return std::make_unique<PqServingTable>(args(), layout_, centroids_.data(), codes_.values, kKey);
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      layout_.decode(codes_.data(), centroids_.data(), row_of(ids, p), out.row(p));
    }
  }

  /// The training forward: nearest centroids of the current queries, codes written.
  void forward_impl(const IdBatch& ids, Matrix out) override {
    assign(ids);
    for (Index p = 0; p < ids.size(); ++p) {  // serial: neighbouring codes share words
      for (Index j = 0; j < layout_.parts; ++j) {
        kernels::write_code(codes_.data(), row_of(ids, p) * layout_.parts + j, layout_.bits(),
                            static_cast<std::uint32_t>(assigned_[static_cast<std::size_t>(p * layout_.parts + j)]));
      }
    }
    double squares = 0.0;
    const Index w = layout_.part_width(), d = dim();
#pragma omp parallel for schedule(static) reduction(+ : squares) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      const float* q = query_.row(row_of(ids, p));
      for (Index j = 0; j < layout_.parts; ++j) {
        const float* c = centroid(j, assigned_[static_cast<std::size_t>(p * layout_.parts + j)]);
        for (Index i = 0; i < w; ++i) {
          out.row(p)[j * w + i] = c[i];
          const double diff = static_cast<double>(c[i]) - q[j * w + i];
          squares += diff * diff;
        }
      }
    }
    regulariser_ = ids.size() > 0 ? squares / static_cast<double>(ids.size() * d) : 0.0;
  }

  /// The surrogate gradients of the file comment.
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    assign(ids);
    const Index count = ids.size(), w = layout_.part_width();
    rows_.resize(static_cast<std::size_t>(count));
    for (Index p = 0; p < count; ++p) rows_[static_cast<std::size_t>(p)] = row_of(ids, p);
    scatter_output_grad(query_, rows_, dE, groups_, grads);
    DenseGrad& g = grads.dense_for(centroids_);
    const float scale = 2.0f / static_cast<float>(std::max<Index>(1, count * dim()));
    for (Index p = 0; p < count; ++p) {
      const float* q = query_.row(rows_[static_cast<std::size_t>(p)]);
      for (Index j = 0; j < layout_.parts; ++j) {
        const Index k = assigned_[static_cast<std::size_t>(p * layout_.parts + j)];
        const float* c = centroid(j, k);
        float* gc = g.values.data() + layout_.centroid_row(j, k) * w;
        for (Index i = 0; i < w; ++i) gc[i] += scale * (c[i] - q[j * w + i]);
      }
    }
  }

  void on_finalize() override { assign_all_codes(); }

  void on_state_loaded() override {
    const Index words = kernels::packed_words(schema().total_rows() * layout_.parts, layout_.bits());
    if (static_cast<Index>(codes_.size()) != words) throw CheckpointError("checkpoint damaged: dpq codes");
  }

 private:
  Index row_of(const IdBatch& ids, Index p) const { return offsets_[ids.field_of(p)] + ids[p]; }
  const float* centroid(Index j, Index k) const {
    return centroids_.data() + layout_.centroid_row(j, k) * layout_.part_width();
  }

  /// Part j's centroids, [K x d/D] (a contiguous block in either layout).
  const float* part_centroids(Index j) const { return centroid(j, 0); }

  /// assigned_[p D + j] = the nearest centroid of part j of position p's query.
  void assign(const IdBatch& ids) {
    const Index count = ids.size(), w = layout_.part_width();
    assigned_.resize(static_cast<std::size_t>(count * layout_.parts));
#pragma omp parallel for schedule(static) if (count > 1024)
    for (Index p = 0; p < count; ++p) {
      const float* q = query_.row(row_of(ids, p));
      for (Index j = 0; j < layout_.parts; ++j) {
        assigned_[static_cast<std::size_t>(p * layout_.parts + j)] =
            kernels::nearest_centroid(q + j * w, part_centroids(j), layout_.centroids, w);
      }
    }
  }

  /// Every row's codes from its query (construction and finalize).
  void assign_all_codes() {
    const Index rows = schema().total_rows(), w = layout_.part_width(), parts = layout_.parts;
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * parts));
#pragma omp parallel for schedule(static)
    for (Index x = 0; x < rows; ++x) {
      for (Index j = 0; j < parts; ++j) {
        codes[static_cast<std::size_t>(x * parts + j)] = static_cast<std::uint8_t>(
            kernels::nearest_centroid(query_.row(x) + j * w, part_centroids(j), layout_.centroids, w));
      }
    }
    for (Index i = 0; i < rows * parts; ++i) {
      kernels::write_code(codes_.data(), i, layout_.bits(), codes[static_cast<std::size_t>(i)]);
    }
  }

  PqLayout layout_;
  Parameter& query_;
  Parameter& centroids_;
  IndexArray<std::uint64_t>& codes_;
  std::vector<Index> offsets_;
  std::vector<Index> assigned_;   ///< scratch: [B F x D] nearest centroids
  std::vector<Index> rows_;       ///< scratch: row of each position
  kernels::RowGroups groups_;
  double regulariser_ = 0.0;      ///< of the last forward
};

}  // namespace embcomp
