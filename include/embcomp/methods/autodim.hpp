// autodim: a differentiable search of each field's embedding width (spec methods-intra.md §5;
// Zhao et al., "AutoDim: Field-aware Embedding Dimension Search in Recommender Systems", WWW
// 2021), then a retrain at the chosen widths, projected to d.
//
// Candidates: widths w_k = min_width, 2 min_width, 4 min_width, ... below d, and d itself.
// Search stage, per candidate k: rows "search<w>.rows" R_k [N x w_k], per-field projections
// ".weight" W_k [F*w_k x d] and biases ".bias" b_k [F x d], BatchNorm without scale or shift
// (running statistics ".norm" [2 x d]): the supernet of autodim_search.hpp,
//   h_k[p] = BN_k(R_k[r] W_k[f] + b_k[f]),   out[p] = sum_k P[f][k] h_k[p],
// mixed by architecture logits alpha [F x K]:
//   P = softmax((log_softmax(alpha) + G) / tau) in training, G Gumbel noise drawn per step;
//   P = softmax(log_softmax(alpha) / tau) at lookup (no noise; BN on its running statistics),
//   tau = max(0.01, 1 - temperature_decay * training samples seen).
// The training step trains R, W, b through the shared optimizer, not alpha (first-order DARTS,
// the reference's default); after it, one validation batch's dE (of lookup) steps alpha by SGD:
//   dL/dP[f][k] = sum over f's positions of dE[p] . h_k[p]   (eval h_k)
//   dL/dalpha[f][j] = P[f][j] (dL/dP[f][j] - sum_k P[f][k] dL/dP[f][k]) / tau.
// Retrain stage (and finalize, if the search was never left): field f keeps width w_c(f) with
// its own rows [n_f x w] and linear layer (projection [w x d], bias [1 x d]),
// out = E_f[x] P_f + b_f (methods/projected_fields.hpp); the search storage is released.
// The logits' arithmetic is methods/autodim_mixing.hpp, shared with the CUDA twins
// (cuda::AutoDimTable in the search, cuda::MdeTable for the fields after it).
//
// The width choice (autodim_plan.hpp) is budget-aware, where the reference's is not (it takes
// argmax alpha and has no memory target): c(f) = argmax_k log_softmax(alpha_f)[k] - lambda
// bytes_f(k), with bytes_f(k) = 4 (n_f w_k + w_k d + d), at the smallest lambda >= 0 whose total
// fits the budget (bisected): argmax alpha whenever that fits. The highest ratio is every field at
// the narrowest candidate, about d / min_width. Served as "projected" tables
// (serving/projected_table.hpp): each field's rows, projection and bias, nothing else.
//
// Departure from the reference, behind an option that restores it:
//   min_width=1: the reference's candidates start at 2, which caps autodim at 8x for d=16
//     (about 7x with the layers), below the sweep's smallest ratio, 10x; from 1 it reaches
//     about 15x.
// Choices measured on validation AUC (DLRM on the sweep's data, 200k training rows, 1 epoch per
// stage, data seeds 1-3, 10x; hash 0.7496 in the same runs):
//   warm_start=reference (the chosen candidate's rows and layer, without its BatchNorm: the
//     spec's pitfall, the output scale changes) 0.7435; folded (BatchNorm's running statistics
//     folded into the layer, W[:, j] inv_j and (b_j - mean_j) inv_j, so the retrain starts from
//     the candidate's eval output) 0.7421; fresh (table and dense model re-initialised) 0.7427.
//     The reference's stays the default; the three are within 0.0015.
//   alpha_lr=1e-3 (the reference's) 0.7421 against 0.7432 at 0.1 (both folded): within noise,
//     and the widths chosen barely differ, so the reference's stays.
// Under the budget the logits move little in one epoch, and the choice follows the bytes: the
// fields with the most ids narrow first. The bisection leaves part of the budget unused where
// one field's step is large (11.8x served at 10x on the sweep's data).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/random.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/methods/autodim_plan.hpp"
#include "embcomp/methods/autodim_search.hpp"
#include "embcomp/methods/projected_fields.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/serving/projected_table.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class AutoDimTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = autodim::kKey;
  static constexpr const char* kServingForm = ProjectedServingTable::kKey;
  static constexpr const char* kSummary =
      "per-field width searched by Gumbel-softmax over candidate widths on validation data, "
      "chosen within the budget, retrained with projections";
  static constexpr float kMinTemperature = autodim::kMinTemperature;
  static std::vector<OptionInfo> option_info() {
    return {{"min_width", "1", "the narrowest candidate width; candidates double up to d (the reference: 2)"},
            {"alpha_lr", "1e-3", "SGD learning rate of the architecture logits, on validation batches"},
            {"temperature_decay", "2.5e-8", "the softmax temperature falls by this per training sample, to 0.01"},
            {"search", "1", "epochs of the search, x the trainer's epochs"},
            {"retrain", "1", "epochs of the retrain, x the trainer's epochs"},
            {"warm_start", "reference", "reference (the chosen candidate's rows and layer, without its BatchNorm) | folded (BatchNorm folded into the layer) | fresh (re-initialised, dense model too)"}};
  }

  AutoDimTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        widths_(autodim::candidate_widths(args.schema.dim, options.integer("min_width"))),
        alpha_lr_(static_cast<float>(options.positive("alpha_lr"))),
        temperature_decay_(options.non_negative("temperature_decay")),
        search_epochs_(options.positive("search")),
        retrain_epochs_(options.positive("retrain")),
        warm_start_(options.pick<WarmStart>(
            "warm_start",
            {{"reference", WarmStart::reference}, {"folded", WarmStart::folded}, {"fresh", WarmStart::fresh}})),
        alpha_(add_parameter("alpha", args.schema.num_fields(), static_cast<Index>(widths_.size()),
                             ParamKind::dense, {}, ParamTraits{ParamRole::method_updated})),
        choice_(add_index<std::uint8_t>("choice", /*served=*/false)),
        counters_(add_index<std::uint64_t>("counters", /*served=*/false)),
        offsets_(args.schema.field_offsets()),
        net_(offsets_, args.schema.dim) {
    std::vector<std::uint8_t> narrowest(static_cast<std::size_t>(args.schema.num_fields()), 0);
    require_budget(kKey, autodim::serving_bytes(args.schema, widths_, narrowest), args);
    register_search_storage();
    register_field_storage();
    alpha_.fill_uniform(1e-3f, kernels::combine(args.seed, 0xA1F4));
    counters_.values.assign(2, 0);
  }

  const std::vector<Index>& candidates() const { return widths_; }
  const Parameter& alpha() const { return alpha_; }
  /// Whether the search storage is live (before the retrain stage and finalize).
  bool searching() const { return choice_.size() == 0; }
  /// The width of every field once chosen (retrain and after); empty while searching.
  std::vector<Index> chosen_widths() const {
    std::vector<Index> out;
    for (std::uint8_t c : choice_.values) out.push_back(widths_[c]);
    return out;
  }
  /// tau: max(0.01, 1 - temperature_decay * training samples seen).
  float temperature() const { return autodim::temperature(temperature_decay_, counters_[1]); }
  double temperature_decay() const { return temperature_decay_; }
  float alpha_lr() const { return alpha_lr_; }
  /// The Gumbel noise's random stream (kernels::gumbel).
  std::uint64_t mixing_stream() const { return kernels::combine(seed(), 0x6B7E1ULL); }
  /// Search steps taken and training samples seen (the Gumbel noise's step, the temperature's
  /// count); set_search_counters restores them (a twin's copy back).
  std::uint64_t search_steps() const { return counters_[0]; }
  std::uint64_t samples_seen() const { return counters_[1]; }
  void set_search_counters(std::uint64_t steps, std::uint64_t samples) {
    counters_[0] = steps;
    counters_[1] = samples;
  }
  /// P [F x K] at lookup: softmax(log_softmax(alpha) / tau).
  std::vector<float> mixing_weights() const { return mixing(false); }

  /// The chosen fields as a ProjectedServingTable; while searching, the form finalize() would
  /// build, from a copy.
  std::unique_ptr<EmbeddingTable> freeze() const override {
    if (!searching()) return std::make_unique<ProjectedServingTable>(args(), chosen_.fields(), kKey);
    return freeze_finalized_copy();
  }

  bool exact_gradient() const override { return !searching(); }
  bool forward_matches_lookup() const override { return !searching(); }

  std::vector<Stage> stages() const override {
    Stage search;
    search.name = "search";
    search.epochs = search_epochs_;
    search.uses_validation = true;
    Stage retrain;
    retrain.name = "retrain";
    retrain.epochs = retrain_epochs_;
    retrain.reset_optimizer = true;
    retrain.reset_model = warm_start_ == WarmStart::fresh;
    return {search, retrain};
  }

  void after_step(const StepContext&) override {
    if (!searching()) return;
    ++counters_[0];
    counters_[1] += static_cast<std::uint64_t>(last_batch_);
  }

  void on_validation_batch(const IdBatch& ids, ConstMatrix dE) override {
    if (!searching()) return;
    const std::vector<double> dP = net_.mixing_gradient(ids, dE);
    autodim::step_logits(alpha_.data(), ids.fields, static_cast<Index>(widths_.size()),
                         mixing(false), dP, temperature(), alpha_lr_);
  }

  std::vector<TableStatistic> statistics() const override {
    std::vector<TableStatistic> out{{"temperature", temperature()}};
    if (searching()) return out;
    double rows_width = 0.0;
    for (Index f = 0; f < schema().num_fields(); ++f) {
      rows_width += static_cast<double>(schema().cardinalities[f] * widths_[choice_[f]]);
    }
    out.push_back({"mean_row_width", rows_width / static_cast<double>(schema().total_rows())});
    for (Index k = 0; k < static_cast<Index>(widths_.size()); ++k) {
      const auto fields = std::count(choice_.values.begin(), choice_.values.end(), k);
      out.push_back({"fields_at_width_" + std::to_string(widths_[k]), static_cast<double>(fields)});
    }
    return out;
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    if (!searching()) {
      chosen_.lookup(ids, out);
      return;
    }
    net_.lookup(ids, mixing(false), out);
  }

  void forward_impl(const IdBatch& ids, Matrix out) override {
    if (!searching()) {
      chosen_.lookup(ids, out);
      return;
    }
    net_.train_forward(ids, mixing(true), out.data, /*update_running=*/true);
    last_batch_ = ids.batch;
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    if (!searching()) {
      chosen_.backward(ids, dE, grads);
      return;
    }
    net_.backward(ids, mixing(true), dE, grads);
  }

  void on_begin_stage(std::size_t index, const StageContext&) override {
    if (index == 1 && searching()) enter_retrain();
  }
  void on_finalize() override {
    if (searching()) enter_retrain();
  }

  void on_state_loaded() override {
    const Index F = schema().num_fields();
    const auto K = static_cast<Index>(widths_.size());
    if (counters_.size() != 2) throw CheckpointError("checkpoint damaged: autodim counters");
    bool shapes_ok = choice_.size() == 0 || choice_.size() == static_cast<std::size_t>(F);
    for (Index f = 0; shapes_ok && !searching() && f < F; ++f) {
      const ProjectedField& field = chosen_.fields()[f];
      shapes_ok = choice_[f] < K && field.rows->rows() == schema().cardinalities[f] &&
                  field.dim() == widths_[choice_[f]] && field.projection->rows() == field.dim() &&
                  field.projection->width() == dim() && field.bias->rows() == 1 &&
                  field.bias->width() == dim();
    }
    for (Index k = 0; shapes_ok && searching() && k < K; ++k) {
      const autodim::Candidate& c = net_.candidates()[k];
      shapes_ok = c.rows->rows() == schema().total_rows() && c.rows->width() == widths_[k] &&
                  c.weight->rows() == F * widths_[k] && c.weight->width() == dim() &&
                  c.bias->rows() == F && c.norm->rows() == 2;
    }
    if (!shapes_ok) throw CheckpointError("checkpoint damaged: autodim storage shapes");
    set_roles();
  }

 private:
  enum class WarmStart : std::uint8_t { reference, folded, fresh };

  static ParamTraits reshapeable(ParamRole role) { return ParamTraits{role, 1.0f, true}; }

  void register_search_storage() {
    const Schema& s = schema();
    const Index F = s.num_fields(), D = s.dim;
    const float bound = default_init_bound(s);
    for (std::size_t k = 0; k < widths_.size(); ++k) {
      const Index w = widths_[k];
      const std::string name = "search" + std::to_string(w);
      autodim::Candidate& c = net_.candidates().emplace_back();
      c.width = w;
      c.rows = &add_parameter(name + ".rows", s.total_rows(), w, ParamKind::rows, {},
                              reshapeable(ParamRole::trained));
      c.weight = &add_parameter(name + ".weight", F * w, D, ParamKind::dense, {},
                                reshapeable(ParamRole::trained));
      c.bias = &add_parameter(name + ".bias", F, D, ParamKind::dense, {}, reshapeable(ParamRole::trained));
      c.norm = &add_parameter(name + ".norm", 2, D, ParamKind::dense, {},
                              reshapeable(ParamRole::method_updated));
      c.rows->fill_uniform(bound, kernels::combine(seed(), 3 * k));
      c.weight->fill_uniform(std::sqrt(6.0f / static_cast<float>(w + D)), kernels::combine(seed(), 3 * k + 1));
      c.bias->fill(0.0f);
      std::fill_n(c.norm->row(0), D, 0.0f);
      std::fill_n(c.norm->row(1), D, 1.0f);
    }
  }

  /// The retrain's storage, [1 x 1] and training-only until enter_retrain sizes it.
  void register_field_storage() {
    for (Index f = 0; f < schema().num_fields(); ++f) {
      const std::string name = "field" + std::to_string(f);
      const ParamTraits unused = reshapeable(ParamRole::training_only);
      ProjectedField& field = chosen_.fields().emplace_back();
      field.rows = &add_parameter(name + ".rows", 1, 1, ParamKind::rows, {}, unused);
      field.projection = &add_parameter(name + ".projection", 1, 1, ParamKind::dense, {}, unused);
      field.bias = &add_parameter(name + ".bias", 1, 1, ParamKind::dense, {}, unused);
    }
  }

  /// log_softmax(alpha_f) of every field, [F x K].
  std::vector<float> log_probabilities() const {
    return autodim::log_probabilities(alpha_.data(), schema().num_fields(),
                                      static_cast<Index>(widths_.size()));
  }

  /// P [F x K]: softmax((log_softmax(alpha) + G) / tau), G Gumbel noise of this step with
  /// `noise`, else 0.
  std::vector<float> mixing(bool noise) const {
    return autodim::mixing_weights(alpha_.data(), schema().num_fields(),
                                   static_cast<Index>(widths_.size()), temperature(),
                                   mixing_stream(), counters_[0], noise);
  }

  /// Chooses the widths within the budget, builds each field's table from the chosen
  /// candidate (warm_start) and releases the search storage.
  void enter_retrain() {
    const Index F = schema().num_fields(), D = dim();
    choice_.values = autodim::choose_widths(schema(), widths_, log_probabilities(), budget());
    for (Index f = 0; f < F; ++f) build_field(f);
    for (autodim::Candidate& c : net_.candidates()) {
      c.rows->reshape(1, c.width);
      c.weight->reshape(1, D);
      c.bias->reshape(1, D);
    }
    set_roles();
  }

  /// Field f's rows [n_f x w], projection [w x d] and bias [1 x d] at its chosen width.
  void build_field(Index f) {
    const Index D = dim(), n = schema().cardinalities[f];
    const Index k = choice_[f], w = widths_[k];
    const autodim::Candidate& c = net_.candidates()[k];
    ProjectedField& field = chosen_.fields()[f];
    field.rows->reshape(n, w);
    field.projection->reshape(w, D);
    field.bias->reshape(1, D);
    if (warm_start_ == WarmStart::fresh) {
      field.rows->fill_uniform(default_init_bound(schema()), kernels::combine(seed(), 0xF1E1D000ULL + 2 * f));
      field.projection->fill_uniform(std::sqrt(6.0f / static_cast<float>(w + D)),
                                     kernels::combine(seed(), 0xF1E1D001ULL + 2 * f));
      return;
    }
    std::copy_n(c.rows->row(offsets_[f]), n * w, field.rows->data());
    std::copy_n(c.weight->row(f * w), w * D, field.projection->data());
    std::copy_n(c.bias->row(f), D, field.bias->data());
    if (warm_start_ == WarmStart::reference) return;
    for (Index j = 0; j < D; ++j) {  // fold BN's running statistics into the layer
      const float inv_std = 1.0f / std::sqrt(c.norm->row(1)[j] + autodim::SearchNet::kNormEps);
      for (Index i = 0; i < w; ++i) field.projection->row(i)[j] *= inv_std;
      field.bias->data()[j] = (field.bias->data()[j] - c.norm->row(0)[j]) * inv_std;
    }
  }

  /// Roles by phase: the search storage and alpha while searching, the fields' after.
  void set_roles() {
    const bool search = searching();
    for (autodim::Candidate& c : net_.candidates()) {
      for (Parameter* p : {c.rows, c.weight, c.bias}) p->set_role(search ? ParamRole::trained : ParamRole::training_only);
      c.norm->set_role(search ? ParamRole::method_updated : ParamRole::training_only);
    }
    alpha_.set_role(search ? ParamRole::method_updated : ParamRole::training_only);
    for (ProjectedField& field : chosen_.fields()) {
      for (Parameter* p : {field.rows, field.projection, field.bias}) {
        p->set_role(search ? ParamRole::training_only : ParamRole::trained);
      }
    }
  }

  std::vector<Index> widths_;
  float alpha_lr_;
  double temperature_decay_;
  double search_epochs_;
  double retrain_epochs_;
  WarmStart warm_start_;
  Parameter& alpha_;                      ///< [F x K] architecture logits
  IndexArray<std::uint8_t>& choice_;      ///< [F] candidate of each field; empty while searching
                                          ///< (training-only: the form knows widths by shapes)
  IndexArray<std::uint64_t>& counters_;   ///< [2]: search steps taken, training samples seen
  std::vector<Index> offsets_;            ///< first stacked row of each field
  autodim::SearchNet net_;                ///< the search storage's math
  ProjectedFields chosen_;
  Index last_batch_ = 0;                  ///< samples of the last training forward
};

}  // namespace embcomp
