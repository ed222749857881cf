// dpq: differentiable product quantization, vq mode (spec methods-intra.md §3; Chen et al.,
// ICML 2020). Each embedding is D parts; each part is replaced by the nearest of K centroids,
// so serving needs only the codes (bit-packed) and the centroids (serving/pq_table.hpp).
//
// Storage and training (methods/pq_training.hpp, shared with mgqe): "query" Q [N x d] fp32,
// training-only; "centroids" [D K x d/D] (or [K x d/D] with shared=true), served; a training
// forward that picks every part's nearest of the K centroids and stores the codes, the
// regulariser as auxiliary loss, and a straight-through surrogate backward. Here: "codes"
// packed ceil(log2 K)-bit codes of every (row, part), served (kernels/pq.hpp layout).
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
#include "embcomp/kernels/pq.hpp"
#include "embcomp/methods/pq_training.hpp"
#include "embcomp/serving/pq_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class DpqTable : public StraightThroughPq {
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

  DpqTable(const TableArgs& args, const Options& options) : DpqTable(args, plan(args, options)) {}

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

  /// One group, every row in it.
  std::optional<GroupedCodes> grouped_codes() override {
    return GroupedCodes{{&codes_.values},
                        FrequencySplit::top_share(TableArgs(schema(), budget(), seed()), 1.0),
                        layout_.centroids,
                        layout_.centroids};
  }

  std::unique_ptr<EmbeddingTable> freeze() const override {
    return std::make_unique<PqServingTable>(args(), layout_, centroids().data(), codes_.values, kKey);
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      layout_.decode(codes_.data(), centroids().data(), row_of(ids, p), out.row(p));
    }
  }

  Index candidates(Index /*field*/, Index /*row*/) const override { return layout_.centroids; }
  void store_code(Index /*field*/, Index row, Index j, std::uint32_t k) override {
    kernels::write_code(codes_.data(), row * layout_.parts + j, layout_.bits(), k);
  }

  void on_state_loaded() override {
    const Index words = kernels::packed_words(schema().total_rows() * layout_.parts, layout_.bits());
    if (static_cast<Index>(codes_.size()) != words) throw CheckpointError("checkpoint damaged: dpq codes");
  }

 private:
  DpqTable(const TableArgs& args, const PqLayout& layout)
      : StraightThroughPq(args, layout.parts, layout.centroid_rows(), layout.part_stride()),
        layout_(layout),
        codes_(add_index<std::uint64_t>("codes")) {
    codes_.values.assign(static_cast<std::size_t>(
                             kernels::packed_words(args.schema.total_rows() * layout_.parts, layout_.bits())),
                         0);
    assign_all_codes();
  }

  PqLayout layout_;
  IndexArray<std::uint64_t>& codes_;
};

}  // namespace embcomp
