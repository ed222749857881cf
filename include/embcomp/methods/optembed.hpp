// optembed: learned row thresholds, a supernet of random widths, an evolutionary search of each
// field's width on validation AUC, then a retrain of the kept rows (spec methods-intra.md §6;
// Lyu et al., "OptEmbed: Learning Optimal Embedding Table for Click-through Rate Prediction",
// CIKM 2022).
//
// Storage while the supernet trains: "rows" E [N x d] (every field's rows stacked as in `full`)
// and "threshold" t [F x 1] (init 0). Position p of field f reads row r:
//   x = |E[r]|_1 - t_f,   m = step(x) (1 where x > 0)
//   training: out[p] = m E[r] * M[k_p],  M[k] keeps the first k + 1 entries, k_p uniform in
//             {0..d-1} per position and step (counter-based: a repeated forward is identical)
//   lookup:   out[p] = m E[r]
// Backward (a surrogate, exact_gradient() false): with g = dE[p], v = E[r] * M[k_p] and the
// step's surrogate slope s(x) (kernels::binary_step_surrogate),
//   dE[r] += m M[k_p] g + s(x) (v . g) sign(E[r]),   dt_f -= s(x) (v . g);
// the loss adds alpha sum_f exp(-t_f) (auxiliary_loss), so dt_f -= alpha exp(-t_f) once per
// step. t has its own SGD at threshold_lr (the reference's), applied after the shared step.
// Search (a stage of no training steps): the evolutionary search of optembed_search.hpp over
// widths w in {1..d}^F, each candidate's rows cut to the budget (the best scores
// |E[r]|_1 - t_f that fit), scored by the trainer's validation AUC (StageContext::validate)
// with the candidate applied; without a validate (a table driven by hand, or finalize before
// the search) the score is the L1 mass the candidate keeps of E. The winner's rows, cut to
// their widths, become per-field kept rows (methods/kept_rows.hpp) and the supernet storage is
// released. Retrain: the kept rows train with fresh optimizer state (the dense model goes on).
// Served as "kept_rows" (serving/kept_rows_table.hpp): kept rows, their id sets, zeros
// elsewhere.
//
// Budget-aware, where the reference is not (its search maximises AUC alone and its reported
// ratio ignores the remap): the rows a candidate keeps are cut to the budget before it is
// scored, so every candidate fits and the search trades rows against widths.
// Departure, behind an option that restores the reference: initial=seeded starts the search
// from the uniform widths 1, 2, 4, ..., d besides random candidates (initial=random: random
// only), so that the narrow candidates high ratios need are present from the first generation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/magnitude.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/methods/kept_rows.hpp"
#include "embcomp/methods/optembed_search.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/serving/kept_rows_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class OptEmbedTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = optembed::kKey;
  static constexpr const char* kServingForm = KeptRowsServingTable::kKey;
  static constexpr const char* kSummary =
      "learned row thresholds and a supernet of random widths, per-field widths searched by "
      "evolution on validation AUC within the budget, kept rows retrained";
  static std::vector<OptionInfo> option_info() {
    return {{"alpha", "1e-5", "weight of the thresholds' regulariser alpha sum exp(-t)"},
            {"threshold_lr", "1e-4", "SGD learning rate of the thresholds (their own optimizer)"},
            {"supernet", "1", "epochs of the supernet, x the trainer's epochs"},
            {"retrain", "1", "epochs of the retrain, x the trainer's epochs"},
            {"generations", "10", "generations of the evolutionary search (the reference: 30)"},
            {"mutations", "10", "mutated candidates per generation"},
            {"crossovers", "10", "crossed-over candidates per generation"},
            {"keep", "0", "best candidates carried into the next generation"},
            {"mutation_prob", "0.1", "probability that a mutation redraws a field's width"},
            {"initial", "seeded", "the first generation: seeded (uniform widths 1, 2, 4, ..., d and random ones) | random (the reference)"}};
  }

  OptEmbedTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        alpha_(options.non_negative("alpha")),
        threshold_lr_(static_cast<float>(options.non_negative("threshold_lr"))),
        supernet_epochs_(options.positive("supernet")),
        retrain_epochs_(options.positive("retrain")),
        evolution_(evolution_config(args, options)),
        rows_(add_parameter("rows", args.schema.total_rows(), args.schema.dim, ParamKind::rows, {},
                            ParamTraits{ParamRole::trained, 1.0f, /*reshapeable=*/true})),
        threshold_(add_parameter("threshold", args.schema.num_fields(), 1, ParamKind::dense, {},
                                 ParamTraits{ParamRole::method_updated, 1.0f, /*reshapeable=*/true})),
        counters_(add_index<std::uint64_t>("counters", /*served=*/false)),
        found_(add_index<double>("search", /*served=*/false)),
        layout_(add_index<KeptField>("kept_fields")),
        ids_(add_index<std::uint32_t>("kept_ids")),
        words_(add_index<std::uint64_t>("kept_words")),
        ranks_(add_index<std::uint32_t>("kept_ranks")),
        kept_(layout_, ids_, words_, ranks_, add_field_rows()),
        offsets_(args.schema.field_offsets()) {
    require_budget(kKey, optembed::min_bytes(args.schema), args);
    rows_.fill_uniform(default_init_bound(args.schema), args.seed);
    threshold_.fill(0.0f);
    counters_.values.assign(1, 0);
    found_.values.assign(2, 0.0);
  }

  /// Whether the supernet storage is live (before the search has chosen).
  bool searching() const { return !kept_.built(); }
  const Parameter& rows() const { return rows_; }
  const Parameter& threshold() const { return threshold_; }
  /// The kept rows once chosen (empty layout while searching).
  const KeptRows& kept() const { return kept_; }
  /// The search's outcome: the widths chosen, the best fitness, the candidates scored (none
  /// while searching).
  optembed::EvolutionResult search_result() const {
    optembed::EvolutionResult out;
    for (Index f = 0; !searching() && f < kept_.fields(); ++f) out.best.push_back(kept_.field(f).width);
    out.evaluations = static_cast<Index>(found_[0]);
    out.best_fitness = found_[1];
    return out;
  }

  /// The dimension mask's width at position p of the current step: k_p + 1 in [1, d].
  Index mask_width(Index p, Index positions) const {
    return kernels::supernet_mask_width(seed(), counters_[0], positions, p, dim());
  }
  /// Supernet steps taken (the masks' counter), and its setter for a twin that trained the
  /// supernet on the device (cuda::OptEmbedTable).
  std::uint64_t supernet_steps() const { return counters_[0]; }
  void set_supernet_steps(std::uint64_t steps) { counters_[0] = steps; }
  /// The kept ids' stored sets (methods/id_sets.hpp), for a twin of the kept rows.
  std::span<const std::uint32_t> kept_ids() const { return ids_.values; }
  std::span<const std::uint64_t> kept_words() const { return words_.values; }
  std::span<const std::uint32_t> kept_ranks() const { return ranks_.values; }
  /// The regulariser's weight alpha and the thresholds' own learning rate.
  double alpha() const { return alpha_; }
  float threshold_lr() const { return threshold_lr_; }

  /// The kept rows as a KeptRowsServingTable; while searching, the form finalize() would build,
  /// from a copy.
  std::unique_ptr<EmbeddingTable> freeze() const override {
    if (!searching()) return std::make_unique<KeptRowsServingTable>(args(), kept_, kKey);
    return freeze_finalized_copy();
  }

  bool exact_gradient() const override { return !searching(); }
  bool forward_matches_lookup() const override { return !searching(); }

  std::vector<Stage> stages() const override {
    Stage supernet;
    supernet.name = "supernet";
    supernet.epochs = supernet_epochs_;
    Stage search;
    search.name = "search";
    search.steps = 0;
    Stage retrain;
    retrain.name = "retrain";
    retrain.epochs = retrain_epochs_;
    retrain.reset_optimizer = true;
    return {supernet, search, retrain};
  }

  double auxiliary_loss() const override {
    if (!searching()) return 0.0;
    double sum = 0.0;
    for (Index f = 0; f < threshold_.rows(); ++f) sum += std::exp(-static_cast<double>(threshold_.row(f)[0]));
    return alpha_ * sum;
  }

  /// The thresholds' own SGD step on the gradient of the last backward.
  void after_step(const StepContext&) override {
    if (!searching()) return;
    ++counters_[0];
    if (threshold_grad_.size() != static_cast<std::size_t>(threshold_.rows())) return;
    for (Index f = 0; f < threshold_.rows(); ++f) threshold_.row(f)[0] -= threshold_lr_ * threshold_grad_[f];
    threshold_grad_.clear();
  }

  std::vector<TableStatistic> statistics() const override {
    if (searching()) return {{"threshold_kept_share", threshold_kept_share()}};
    double kept = 0.0, width = 0.0;
    for (Index f = 0; f < kept_.fields(); ++f) {
      kept += static_cast<double>(kept_.field(f).kept);
      width += static_cast<double>(kept_.field(f).kept * kept_.field(f).width);
    }
    return {{"kept_row_share", kept / static_cast<double>(schema().total_rows())},
            {"mean_kept_width", kept > 0.0 ? width / kept : 0.0},
            {"search_evaluations", found_[0]},
            {"search_best_fitness", found_[1]}};
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    if (!searching()) {
      kept_.lookup(ids, out);
      return;
    }
    masked_rows(ids, out, [&](Index, Index f, Index r) {
      if (!trial_.empty()) return RowMask{1.0f, trial_kept_[r] ? trial_[f] : 0};  // a candidate
      return RowMask{kernels::binary_step(row_score(f, r)), dim()};
    });
  }

  void forward_impl(const IdBatch& ids, Matrix out) override {
    if (!searching()) {
      kept_.lookup(ids, out);
      return;
    }
    masked_rows(ids, out, [&](Index p, Index f, Index r) {
      return RowMask{kernels::binary_step(row_score(f, r)), mask_width(p, ids.size())};
    });
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    if (!searching()) {
      kept_.backward(ids, dE, grads);
      return;
    }
    const Index F = schema().num_fields(), D = dim();
    global_rows_.resize(static_cast<std::size_t>(ids.size()));
    for (Index p = 0; p < ids.size(); ++p) global_rows_[p] = offsets_[ids.field_of(p)] + ids[p];
    threshold_grad_.assign(static_cast<std::size_t>(F), 0.0f);
    for (Index f = 0; f < F; ++f) threshold_grad_[f] = static_cast<float>(-alpha_ * std::exp(-static_cast<double>(threshold_.row(f)[0])));
    for (Index p = 0; p < ids.size(); ++p) {  // in order: the sums do not depend on threads
      const Index f = ids.field_of(p);
      threshold_grad_[f] -= kernels::binary_step_surrogate(row_score(f, global_rows_[p])) *
                            masked_dot(global_rows_[p], mask_width(p, ids.size()), dE.row(p));
    }
    scatter_param_grad(rows_, global_rows_, groups_, grads, [&](Index p, float* acc) {
      const Index f = ids.field_of(p), r = global_rows_[p], width = mask_width(p, ids.size());
      const float x = row_score(f, r);
      const float m = kernels::binary_step(x);
      const float slope = kernels::binary_step_surrogate(x) * masked_dot(r, width, dE.row(p));
      const float* e = rows_.row(r);
      const float* g = dE.row(p);
      for (Index c = 0; c < D; ++c)
        acc[c] += kernels::supernet_entry_gradient(e[c], g[c], c, width, m, slope);
    });
  }

  void on_begin_stage(std::size_t index, const StageContext& ctx) override {
    if (index == 1 && searching()) search(ctx.validate);
  }
  void on_finalize() override {
    if (searching()) search({});
  }

  void on_state_loaded() override {
    if (counters_.size() != 1 || found_.size() != 2) throw CheckpointError("checkpoint damaged: optembed counters");
    if (layout_.size() == 0 && ids_.size() == 0 && words_.size() == 0 && ranks_.size() == 0) {
      if (rows_.rows() != schema().total_rows() || rows_.width() != dim() ||
          threshold_.rows() != schema().num_fields() || threshold_.width() != 1) {
        throw CheckpointError("checkpoint damaged: optembed supernet shapes");
      }
    } else {
      kept_.check(schema().cardinalities, dim(), kKey);
    }
    set_roles();
  }

 private:
  static optembed::EvolutionConfig evolution_config(const TableArgs& args, const Options& o) {
    optembed::EvolutionConfig c;
    c.generations = static_cast<Index>(o.integer("generations"));
    c.mutations = static_cast<Index>(o.integer("mutations"));
    c.crossovers = static_cast<Index>(o.integer("crossovers"));
    c.keep = static_cast<Index>(o.integer("keep"));
    c.mutation_prob = o.number("mutation_prob");
    c.seed_uniform = o.pick<bool>("initial", {{"seeded", true}, {"random", false}});
    c.seed = args.seed;
    if (c.generations < 1 || c.mutations < 0 || c.crossovers < 0 || c.keep < 0 ||
        c.mutations + c.crossovers + c.keep < 1) {
      throw InvalidArgument("optembed: generations must be >= 1 and keep + mutations + crossovers >= 1, "
                            "none negative");
    }
    if (!(c.mutation_prob >= 0.0 && c.mutation_prob <= 1.0)) {
      throw InvalidArgument("optembed: mutation_prob must be in [0, 1], got " + o.text("mutation_prob"));
    }
    return c;
  }

  /// field<f>.rows, [1 x 1] and training-only until the search lays them out.
  std::vector<Parameter*> add_field_rows() {
    std::vector<Parameter*> out;
    for (Index f = 0; f < schema().num_fields(); ++f) {
      out.push_back(&add_parameter("field" + std::to_string(f) + ".rows", 1, 1, ParamKind::rows, {},
                                   ParamTraits{ParamRole::training_only, 1.0f, /*reshapeable=*/true}));
    }
    return out;
  }

  /// What position p reads of its supernet row: m times its first `width` entries.
  struct RowMask {
    float m = 1.0f;
    Index width = 0;
  };

  /// out[p] = m E[r] on the first `width` entries, zeros after, (m, width) = at(p, f, r) for
  /// position p of field f reading stacked row r; thread-safe when `at` is.
  template <class At>
  void masked_rows(const IdBatch& ids, Matrix out, At at) const {
    const Index D = dim();
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      const Index f = ids.field_of(p);
      const Index r = offsets_[f] + ids[p];
      const RowMask mask = at(p, f, r);
      const float* e = rows_.row(r);
      float* o = out.row(p);
      for (Index c = 0; c < D; ++c) o[c] = c < mask.width ? mask.m * e[c] : 0.0f;
    }
  }

  /// |E[r]|_1 - t_f.
  float row_score(Index f, Index r) const {
    return kernels::row_score(rows_.row(r), dim(), threshold_.row(f)[0]);
  }

  /// (E[r] * M) . g over the first `width` entries.
  float masked_dot(Index r, Index width, const float* g) const {
    return kernels::masked_dot(rows_.row(r), width, g);
  }

  double threshold_kept_share() const {
    Index kept = 0;
    for (Index f = 0; f < schema().num_fields(); ++f) {
      for (Index i = 0; i < schema().cardinalities[f]; ++i) kept += row_score(f, offsets_[f] + i) > 0.0f;
    }
    return static_cast<double>(kept) / static_cast<double>(schema().total_rows());
  }

  /// Puts candidate w (cut to the budget) in place for lookup; returns the ids it keeps.
  std::vector<std::vector<std::uint32_t>> apply_trial(const std::vector<optembed::RankedRow>& ranked,
                                                      const optembed::Widths& w) {
    auto kept = optembed::kept_ids(schema(), ranked, w, budget().bytes(schema()));
    trial_ = w;
    trial_kept_.assign(static_cast<std::size_t>(schema().total_rows()), 0);
    for (Index f = 0; f < schema().num_fields(); ++f) {
      for (std::uint32_t id : kept[f]) trial_kept_[offsets_[f] + id] = 1;
    }
    return kept;
  }

  /// The L1 mass of E that candidate w keeps, the score without a validation set.
  double kept_mass(const std::vector<std::vector<std::uint32_t>>& kept, const optembed::Widths& w) const {
    double mass = 0.0;
    for (Index f = 0; f < schema().num_fields(); ++f) {
      for (std::uint32_t id : kept[f]) {
        const float* e = rows_.row(offsets_[f] + id);
        for (Index c = 0; c < w[f]; ++c) mass += std::fabs(e[c]);
      }
    }
    return mass;
  }

  /// The search stage: scores rows, runs the evolution, lays out the winner's kept rows and
  /// releases the supernet storage.
  void search(const std::function<double()>& validate) {
    std::vector<float> scores(static_cast<std::size_t>(schema().total_rows()));
    for (Index f = 0; f < schema().num_fields(); ++f) {
      for (Index i = 0; i < schema().cardinalities[f]; ++i) scores[offsets_[f] + i] = row_score(f, offsets_[f] + i);
    }
    const std::vector<optembed::RankedRow> ranked = optembed::rank_rows(schema(), scores);
    const double bytes = budget().bytes(schema());
    optembed::Evolution evolution(schema().num_fields(), dim(), evolution_);
    const optembed::EvolutionResult found = evolution.run([&](const optembed::Widths& candidate) {
      const optembed::Widths w = optembed::fit_widths(candidate, bytes);
      const auto kept = apply_trial(ranked, w);
      return validate ? validate() : kept_mass(kept, w);
    });
    found_.values = {static_cast<double>(found.evaluations), found.best_fitness};
    const optembed::Widths widths = optembed::fit_widths(found.best, bytes);
    const auto kept = optembed::kept_ids(schema(), ranked, widths, bytes);
    trial_.clear();
    trial_kept_.clear();
    kept_.clear();
    for (Index f = 0; f < schema().num_fields(); ++f) {
      kept_.assign(schema().cardinalities[f], kept[f], widths[f]);
      Parameter& field_rows = kept_.rows(f);
      for (std::size_t k = 0; k < kept[f].size(); ++k) {
        std::copy_n(rows_.row(offsets_[f] + kept[f][k]), field_rows.width(), field_rows.row(static_cast<Index>(k)));
      }
    }
    rows_.reshape(1, 1);
    threshold_.reshape(1, 1);
    set_roles();
  }

  /// Roles by phase: the supernet's while searching, the kept rows' after.
  void set_roles() {
    const bool supernet = searching();
    rows_.set_role(supernet ? ParamRole::trained : ParamRole::training_only);
    threshold_.set_role(supernet ? ParamRole::method_updated : ParamRole::training_only);
    for (Index f = 0; f < kept_.fields(); ++f) {
      kept_.rows(f).set_role(supernet ? ParamRole::training_only : ParamRole::trained);
    }
  }

  double alpha_;
  float threshold_lr_;
  double supernet_epochs_;
  double retrain_epochs_;
  optembed::EvolutionConfig evolution_;
  Parameter& rows_;                        ///< E [N x d] while searching
  Parameter& threshold_;                   ///< t [F x 1] while searching
  IndexArray<std::uint64_t>& counters_;    ///< [1]: supernet steps taken (the masks' counter)
  IndexArray<double>& found_;              ///< [2]: candidates scored, the best's fitness
  IndexArray<KeptField>& layout_;
  IndexArray<std::uint32_t>& ids_;
  IndexArray<std::uint64_t>& words_;
  IndexArray<std::uint32_t>& ranks_;
  KeptRows kept_;
  std::vector<Index> offsets_;             ///< first stacked row of each field

  // search and backward scratch
  optembed::Widths trial_;                 ///< the candidate being scored; empty otherwise
  std::vector<std::uint8_t> trial_kept_;   ///< [N] rows it keeps
  std::vector<float> threshold_grad_;      ///< [F] dL/dt of the last backward
  std::vector<Index> global_rows_;         ///< stacked row of each position
  kernels::RowGroups groups_;
};

}  // namespace embcomp
