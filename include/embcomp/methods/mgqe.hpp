// mgqe: multi-granular quantized embedding (spec methods-intra.md §4; Kang et al., WWW 2020
// companion). dpq in vq mode (methods/dpq.hpp) with two frequency groups: a frequent (high)
// row may take any of the K_high centroids of each part, an infrequent (low) row only the
// first K_low of them, so its codes need fewer bits (8 and 6 with the defaults).
//
// Storage and training (methods/pq_training.hpp, shared with dpq): "query" Q [N x d] fp32,
// training-only; "centroids" [D K_high x d/D], served; a training forward that gives each part
// the nearest of the row's candidate centroids (K_high for high rows, the first K_low for low
// ones: the reference's argmax_partial) and stores the codes, the regulariser as auxiliary
// loss, a straight-through surrogate backward, every row's codes reassigned at finalize().
// Here, served: "high_codes" and "low_codes", each group's ceil(log2 K)-bit codes packed in
// the order of its rows, and "groups" (FrequencySplit, serving/grouped_pq_table.hpp), which
// locates a row's codes; the serving form is GroupedPqServingTable ("gpq").
// Groups: per field f, the top ceil(top_percent n_f) ids by args.count_or_rank(f, id)
// (training-split counts when given, ties to the smaller id; else the id is its frequency
// rank) are high. Where each field's high ids are [0, h_f) (always without counts) the split
// costs 8 B per field (per-field thresholds), else a bitset of high rows with a rank per 64
// rows, 12 B per 64 rows (0.19 B per row). groups=ranks takes the ids as frequency ranks even
// when counts are given, so the split always costs 8 B per field.
// Sizing: D = parts, or with parts=auto the most parts (a divisor of d) whose codes,
// centroids and split fit the budget; where one part does not fit, K_high and K_low are
// halved together (their ratio kept) down to K_low = 2. With groups=counts the budget counts
// the bitset's bytes whatever encoding the counts give: a checkpoint rebuilds the table
// without the counts (load_table), and the layout must not depend on them; the table is then
// at most 0.19 B per row under its budget. InfeasibleBudget names the ratio of D = 1 at the
// smallest centroid counts.
// Departures from the reference: one table over every field, as dpq (the reference forces one
// table per field, each with its own K_high d centroids, and leaves a field uncompressed where
// that does not pay): shared centroids let every field compress, and they are negligible
// beside the codes; the split is located by per-field thresholds or a bitset, 8 B per field
// or 0.19 B per row, where the reference counts one fp32 unit per row for its group flag (4 B,
// which caps it near 11.5x at d = 16); D (and below one part, the centroid counts) follows
// from the budget where the reference fixed D = 4; the split takes exactly ceil(top_percent
// n_f) ids per field (the reference's count threshold includes every tie); the BatchNorm on
// the responses is left out and every row's codes are assigned at construction and finalize,
// as in dpq (see there).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/kernels/pq.hpp"
#include "embcomp/methods/pq_training.hpp"
#include "embcomp/serving/grouped_pq_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class MgqeTable : public StraightThroughPq {
 public:
  static constexpr const char* kKey = "mgqe";
  static constexpr const char* kSummary =
      "multi-granular quantized embedding: product quantization, more centroids for frequent ids";
  static constexpr const char* kServingForm = GroupedPqServingTable::kKey;
  static constexpr bool kUsesCounts = true;
  static constexpr bool kStateHoldsFullTable = true;  // checked by load_table
  static std::vector<OptionInfo> option_info() {
    return {{"parts", "auto", "D: parts per embedding (auto: the most that fit the budget)"},
            {"high_centroids", "256", "K_high: centroids per part for frequent ids, 2..256"},
            {"low_centroids", "64", "K_low: the first centroids of each part infrequent ids may take"},
            {"top_percent", "0.1", "share of each field's ids that are frequent, (0, 1]"},
            {"groups", "counts", "counts (training-split counts when given) | ranks (ids are ranks)"}};
  }

  /// What a budget buys: the layout and the split it was sized with.
  struct Plan {
    GroupedPqLayout layout;
    FrequencySplit split;
    std::size_t split_bytes = 0;  ///< what the budget counts for the split (see the file comment)
    double bytes() const { return layout.code_bytes(split) + static_cast<double>(split_bytes); }
  };

  MgqeTable(const TableArgs& args, const Options& options) : MgqeTable(args, plan(args, options)) {}

  /// The split of the options, then the largest D (parts=auto) or the given one, with the
  /// centroid counts halved below D = 1. Throws InfeasibleBudget or InvalidArgument.
  static Plan plan(const TableArgs& args, const Options& options) {
    Plan plan{centroid_counts(options, args.schema.dim), split_of(args, options), 0};
    plan.split_bytes = plan.split.bytes();
    if (plan.layout.low_centroids < plan.layout.high_centroids &&
        options.choice("groups", {"counts", "ranks"}) == "counts") {
      plan.split_bytes = FrequencySplit::bitset_bytes(args.schema.total_rows());
    }
    GroupedPqLayout& layout = plan.layout;
    if (options.text("parts") != "auto") {
      layout.parts = static_cast<Index>(options.integer("parts"));
      if (layout.parts < 1 || layout.dim % layout.parts != 0) {
        throw InvalidArgument("mgqe: parts must divide the dim " + std::to_string(layout.dim));
      }
      require_budget(kKey, plan.bytes(), args);
      return plan;
    }
    const double budget = args.budget.bytes(args.schema);
    for (layout.parts = layout.dim; layout.parts > 1; --layout.parts) {
      if (layout.dim % layout.parts == 0 && plan.bytes() <= budget) return plan;
    }
    while (plan.bytes() > budget && layout.low_centroids > 2) {
      layout.high_centroids = std::max<Index>(2, layout.high_centroids / 2);
      layout.low_centroids = std::max<Index>(2, layout.low_centroids / 2);
    }
    require_budget(kKey, plan.bytes(), args);
    return plan;
  }

  const GroupedPqLayout& layout() const { return layout_; }
  const FrequencySplit& split() const { return split_; }

  std::optional<GroupedCodes> grouped_codes() override {
    return GroupedCodes{{&high_codes_.values, &low_codes_.values},
                        split_,
                        layout_.high_centroids,
                        layout_.low_centroids};
  }

  std::unique_ptr<EmbeddingTable> freeze() const override {
    return std::make_unique<GroupedPqServingTable>(args(), layout_, centroids().data(), split_,
                                                   high_codes_.values, low_codes_.values, kKey);
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      layout_.decode(split_, high_codes_.data(), low_codes_.data(), centroids().data(), ids.field_of(p),
                     row_of(ids, p), out.row(p));
    }
  }

  Index candidates(Index field, Index row) const override {
    return split_.high(field, row) ? layout_.high_centroids : layout_.low_centroids;
  }
  void store_code(Index field, Index row, Index j, std::uint32_t k) override {
    const FrequencySplit::Slot at = split_.slot(field, row);
    kernels::write_code(at.high ? high_codes_.data() : low_codes_.data(), at.rank * layout_.parts + j,
                        at.high ? layout_.high_bits() : layout_.low_bits(), k);
  }

  void on_state_loaded() override { layout_.check_codes(split_, high_codes_.values, low_codes_.values); }

 private:
  MgqeTable(const TableArgs& args, Plan planned)
      : StraightThroughPq(args, planned.layout.parts, planned.layout.centroid_rows(), planned.layout.high_centroids),
        layout_(planned.layout),
        split_(std::move(planned.split)),
        high_codes_(add_index<std::uint64_t>("high_codes")),
        low_codes_(add_index<std::uint64_t>("low_codes")) {
    add_index_state("groups", split_);
    high_codes_.values.assign(static_cast<std::size_t>(layout_.high_words(split_)), 0);
    low_codes_.values.assign(static_cast<std::size_t>(layout_.low_words(split_)), 0);
    assign_all_codes();
  }

  /// K_high and K_low of the options (one group where top_percent = 1); D is set later.
  static GroupedPqLayout centroid_counts(const Options& options, Index dim) {
    GroupedPqLayout layout{1, options.integer("high_centroids"), 0, dim};
    if (top_percent(options) == 1.0) {
      options.not_applicable("low_centroids", "top_percent=1 (every id is frequent)");
      layout.low_centroids = layout.high_centroids;
    } else {
      layout.low_centroids = options.integer("low_centroids");
    }
    if (layout.low_centroids < 2 || layout.low_centroids > layout.high_centroids || layout.high_centroids > 256) {
      throw InvalidArgument("mgqe: centroids must satisfy 2 <= low_centroids <= high_centroids <= 256");
    }
    return layout;
  }

  static double top_percent(const Options& options) {
    const double top = options.number("top_percent");
    if (!(top > 0.0 && top <= 1.0)) throw InvalidArgument("mgqe: top_percent must be in (0, 1]");
    return top;
  }

  /// The frequency split of the options: one group (every row high) where the groups would
  /// not differ, else the top share by counts or ranks.
  static FrequencySplit split_of(const TableArgs& args, const Options& options) {
    const double top = top_percent(options);
    if (top == 1.0) {
      options.not_applicable("groups", "top_percent=1 (every id is frequent)");
      return FrequencySplit::top_share(args, 1.0);
    }
    if (options.integer("low_centroids") == options.integer("high_centroids")) {
      options.not_applicable("top_percent", "low_centroids = high_centroids (one group)");
      options.not_applicable("groups", "low_centroids = high_centroids (one group)");
      return FrequencySplit::top_share(args, 1.0);
    }
    if (options.choice("groups", {"counts", "ranks"}) == "ranks") {
      return FrequencySplit::top_share(TableArgs(args.schema, args.budget, args.seed), top);
    }
    return FrequencySplit::top_share(args, top);
  }

  GroupedPqLayout layout_;
  FrequencySplit split_;
  IndexArray<std::uint64_t>& high_codes_;
  IndexArray<std::uint64_t>& low_codes_;
};

}  // namespace embcomp
