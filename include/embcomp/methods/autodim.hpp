// autodim: a differentiable search of each field's embedding width (spec methods-intra.md §5;
// Zhao et al., "AutoDim: Field-aware Embedding Dimension Search in Recommender Systems", WWW
// 2021), then a retrain at the chosen widths, projected to d.
//
// Candidates: widths w_k = min_width, 2 min_width, 4 min_width, ... below d, and d itself.
// Search stage, per candidate k: rows R_k [N x w_k] (every field's rows stacked as in `full`),
// per-field projections W_k [F*w_k x d] (field f's block [w_k x d]) and biases b_k [F x d],
// BatchNorm without scale or shift over the B*F positions (running mean and variance
// "search<w>.norm" [2 x d]); architecture logits alpha [F x K]. Position p of field f, row r:
//   h_k[p] = BN_k(R_k[r] W_k[f] + b_k[f])
//   out[p] = sum_k P[f][k] h_k[p]
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
//
// The width choice (autodim_plan.hpp) is budget-aware, where the reference's is not (it takes
// argmax alpha and has no memory target): c(f) = argmax_k log_softmax(alpha_f)[k] - lambda bytes_f(k), with
// bytes_f(k) = 4 (n_f w_k + w_k d + d), at the smallest lambda >= 0 whose total fits the
// budget (bisected): argmax alpha whenever that fits. The highest ratio is every field at the
// narrowest candidate, about d / min_width. Served as "projected" tables
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
#include <sstream>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/mde.hpp"
#include "embcomp/kernels/random.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/methods/autodim_plan.hpp"
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
  static constexpr float kMinTemperature = 0.01f;
  static constexpr float kNormMomentum = 0.1f;
  static constexpr float kNormEps = 1e-5f;
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
        offsets_(args.schema.field_offsets()) {
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
  float temperature() const {
    const double t = 1.0 - temperature_decay_ * static_cast<double>(counters_[1]);
    return static_cast<float>(std::max<double>(kMinTemperature, t));
  }
  /// P [F x K] at lookup: softmax(log_softmax(alpha) / tau).
  std::vector<float> mixing_weights() const { return mixing(false); }

  /// The chosen fields as a ProjectedServingTable; while searching, the form finalize() would
  /// build, from a copy.
  std::unique_ptr<EmbeddingTable> freeze() const override {
    if (!searching()) return std::make_unique<ProjectedServingTable>(args(), chosen_.fields(), kKey);
    std::stringstream buffer(std::ios::in | std::ios::out | std::ios::binary);
    save(buffer);
    auto copy = load_table(buffer);
    copy->finalize();
    return copy->freeze();
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
    const Index F = ids.fields, D = dim();
    const auto K = static_cast<Index>(widths_.size());
    const std::vector<float> P = mixing(false);
    std::vector<double> dP(static_cast<std::size_t>(F * K), 0.0);
    std::vector<float> h(static_cast<std::size_t>(D));
    for (Index p = 0; p < ids.size(); ++p) {  // in order: the sums do not depend on threads
      const Index f = ids.field_of(p);
      for (Index k = 0; k < K; ++k) {
        eval_candidate(k, f, offsets_[f] + ids[p], h.data());
        double dot = 0.0;
        for (Index c = 0; c < D; ++c) dot += static_cast<double>(dE.row(p)[c]) * h[c];
        dP[f * K + k] += dot;
      }
    }
    const double inv_tau = 1.0 / temperature();
    for (Index f = 0; f < F; ++f) {
      double mean = 0.0;
      for (Index k = 0; k < K; ++k) mean += P[f * K + k] * dP[f * K + k];
      for (Index k = 0; k < K; ++k) {
        const double grad = P[f * K + k] * (dP[f * K + k] - mean) * inv_tau;
        alpha_.row(f)[k] -= static_cast<float>(alpha_lr_ * grad);
      }
    }
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
    const std::vector<float> P = mixing(false);
    const auto K = static_cast<Index>(widths_.size());
    const Index D = dim();
#pragma omp parallel if (ids.size() > 256)
    {
      std::vector<float> h(static_cast<std::size_t>(D));
#pragma omp for schedule(static)
      for (Index p = 0; p < ids.size(); ++p) {
        const Index f = ids.field_of(p);
        float* o = out.row(p);
        std::fill_n(o, D, 0.0f);
        for (Index k = 0; k < K; ++k) {
          eval_candidate(k, f, offsets_[f] + ids[p], h.data());
          for (Index c = 0; c < D; ++c) o[c] += P[f * K + k] * h[c];
        }
      }
    }
  }

  void forward_impl(const IdBatch& ids, Matrix out) override {
    if (!searching()) {
      chosen_.lookup(ids, out);
      return;
    }
    train_forward(ids, out.data, /*update_running=*/true);
    forwarded_.assign(ids.ids, ids.ids + ids.size());
    last_batch_ = ids.batch;
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    if (!searching()) {
      chosen_.backward(ids, dE, grads);
      return;
    }
    if (!std::equal(forwarded_.begin(), forwarded_.end(), ids.ids, ids.ids + ids.size()) ||
        forwarded_.size() != static_cast<std::size_t>(ids.size())) {
      scratch_out_.resize(static_cast<std::size_t>(ids.size() * dim()));
      train_forward(ids, scratch_out_.data(), /*update_running=*/false);
    }
    forwarded_.clear();
    search_rows_.resize(static_cast<std::size_t>(ids.size()));
    for (Index p = 0; p < ids.size(); ++p) search_rows_[p] = offsets_[ids.field_of(p)] + ids[p];
    for (Index k = 0; k < static_cast<Index>(widths_.size()); ++k) candidate_backward(k, ids, dE, grads);
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
      const Candidate& c = candidates_[k];
      shapes_ok = c.rows->rows() == schema().total_rows() && c.rows->width() == widths_[k] &&
                  c.weight->rows() == F * widths_[k] && c.weight->width() == dim() &&
                  c.bias->rows() == F && c.norm->rows() == 2;
    }
    if (!shapes_ok) throw CheckpointError("checkpoint damaged: autodim storage shapes");
    set_roles();
  }

 private:
  enum class WarmStart : std::uint8_t { reference, folded, fresh };

  /// Candidate k's search storage.
  struct Candidate {
    Index width = 0;
    Parameter* rows = nullptr;    ///< R_k [N x w]
    Parameter* weight = nullptr;  ///< W_k [F*w x d]
    Parameter* bias = nullptr;    ///< b_k [F x d]
    Parameter* norm = nullptr;    ///< [2 x d]: running mean, running variance
  };

  /// The search's training scratch of candidate k: its normalised outputs and batch statistics.
  struct CandidateCache {
    std::vector<float> normalized;  ///< [B*F x d]
    Eigen::RowVectorXf inv_std;
  };

  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  static ParamTraits reshapeable(ParamRole role) { return ParamTraits{role, 1.0f, true}; }

  void register_search_storage() {
    const Schema& s = schema();
    const Index F = s.num_fields(), D = s.dim;
    const float bound = default_init_bound(s);
    for (std::size_t k = 0; k < widths_.size(); ++k) {
      const Index w = widths_[k];
      const std::string name = "search" + std::to_string(w);
      Candidate& c = candidates_.emplace_back();
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
    cache_.resize(widths_.size());
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
    const Index F = schema().num_fields();
    const auto K = static_cast<Index>(widths_.size());
    std::vector<float> out(static_cast<std::size_t>(F * K));
    for (Index f = 0; f < F; ++f) {
      const float* a = alpha_.row(f);
      const float top = *std::max_element(a, a + K);
      double z = 0.0;
      for (Index k = 0; k < K; ++k) z += std::exp(static_cast<double>(a[k] - top));
      const auto log_z = static_cast<float>(std::log(z));
      for (Index k = 0; k < K; ++k) out[f * K + k] = a[k] - top - log_z;
    }
    return out;
  }

  /// P [F x K]: softmax((log_softmax(alpha) + G) / tau), G Gumbel noise of this step with
  /// `noise`, else 0.
  std::vector<float> mixing(bool noise) const {
    const Index F = schema().num_fields();
    const auto K = static_cast<Index>(widths_.size());
    const float inv_tau = 1.0f / temperature();
    const std::uint64_t stream = kernels::combine(seed(), 0x6B7E1ULL);
    std::vector<float> P = log_probabilities();
    for (Index f = 0; f < F; ++f) {
      float* row = P.data() + f * K;
      for (Index k = 0; k < K; ++k) {
        const float g = noise ? kernels::gumbel(stream, (counters_[0] * F + f) * K + k) : 0.0f;
        row[k] = (row[k] + g) * inv_tau;
      }
      const float top = *std::max_element(row, row + K);
      float sum = 0.0f;
      for (Index k = 0; k < K; ++k) sum += row[k] = std::exp(row[k] - top);
      for (Index k = 0; k < K; ++k) row[k] /= sum;
    }
    return P;
  }

  /// h[d] = R_k[r] W_k[f] + b_k[f], before BatchNorm.
  void project(Index k, Index f, Index r, float* h) const {
    const Candidate& c = candidates_[k];
    const Index D = dim();
    kernels::mde_project(c.rows->row(r), c.width, c.weight->row(f * c.width), D, h);
    const float* b = c.bias->row(f);
    for (Index j = 0; j < D; ++j) h[j] += b[j];
  }

  /// h[d] = the eval-mode h_k of row r of field f: BatchNorm on its running statistics.
  void eval_candidate(Index k, Index f, Index r, float* h) const {
    project(k, f, r, h);
    const Parameter& norm = *candidates_[k].norm;
    for (Index j = 0; j < dim(); ++j) h[j] = (h[j] - norm.row(0)[j]) / std::sqrt(norm.row(1)[j] + kNormEps);
  }

  /// out[B*F x d] = sum_k P h_k with batch statistics and this step's noise; caches what
  /// backward needs and, with update_running, moves the running statistics.
  void train_forward(const IdBatch& ids, float* out, bool update_running) {
    const Index M = ids.size(), D = dim();
    const auto K = static_cast<Index>(widths_.size());
    mix_ = mixing(true);
    std::fill_n(out, M * D, 0.0f);
    for (Index k = 0; k < K; ++k) {
      CandidateCache& cache = cache_[k];
      cache.normalized.resize(static_cast<std::size_t>(M * D));
#pragma omp parallel for schedule(static) if (M > 1024)
      for (Index p = 0; p < M; ++p) {
        const Index f = ids.field_of(p);
        project(k, f, offsets_[f] + ids[p], cache.normalized.data() + p * D);
      }
      Eigen::Map<RowMajor> x(cache.normalized.data(), M, D);
      const Eigen::RowVectorXf mean = x.colwise().mean();
      x.rowwise() -= mean;
      const Eigen::RowVectorXf var = x.array().square().colwise().mean().matrix();
      cache.inv_std = (var.array() + kNormEps).rsqrt().matrix();
      x = (x.array().rowwise() * cache.inv_std.array()).matrix();
      if (update_running) update_running_stats(*candidates_[k].norm, mean, var, M);
      for (Index p = 0; p < M; ++p) {
        const float weight = mix_[ids.field_of(p) * K + k];
        const float* h = cache.normalized.data() + p * D;
        for (Index c = 0; c < D; ++c) out[p * D + c] += weight * h[c];
      }
    }
  }

  static void update_running_stats(Parameter& norm, const Eigen::RowVectorXf& mean,
                                   const Eigen::RowVectorXf& var, Index count) {
    const float unbiased = count > 1 ? static_cast<float>(count) / static_cast<float>(count - 1) : 1.0f;
    for (Index c = 0; c < norm.width(); ++c) {
      norm.row(0)[c] = (1.0f - kNormMomentum) * norm.row(0)[c] + kNormMomentum * mean[c];
      norm.row(1)[c] = (1.0f - kNormMomentum) * norm.row(1)[c] + kNormMomentum * unbiased * var[c];
    }
  }

  /// Candidate k's gradients: dh = P dE through BatchNorm's batch statistics,
  ///   dx = inv_std / M (M dh - sum(dh) - xhat sum(dh xhat)),
  /// then dW_k[f] += R_k[r]ᵀ dx, db_k[f] += dx, and R_k[r] += W_k[f] dx per unique row.
  void candidate_backward(Index k, const IdBatch& ids, ConstMatrix dE, Gradients& grads) {
    const Candidate& c = candidates_[k];
    const CandidateCache& cache = cache_[k];
    const Index M = ids.size(), D = dim(), w = c.width;
    const auto K = static_cast<Index>(widths_.size());
    dx_.resize(static_cast<std::size_t>(M * D));
    Eigen::Map<RowMajor> dx(dx_.data(), M, D);
    for (Index p = 0; p < M; ++p) {
      const float weight = mix_[ids.field_of(p) * K + k];
      for (Index j = 0; j < D; ++j) dx(p, j) = weight * dE.row(p)[j];
    }
    const Eigen::Map<const RowMajor> xhat(cache.normalized.data(), M, D);
    const Eigen::RowVectorXf sum_dh = dx.colwise().sum();
    const Eigen::RowVectorXf sum_dh_xhat = (dx.array() * xhat.array()).colwise().sum().matrix();
    dx = ((static_cast<float>(M) * dx.array()).rowwise() - sum_dh.array()).matrix();
    dx.array() -= xhat.array().rowwise() * sum_dh_xhat.array();
    dx = (dx.array().rowwise() * (cache.inv_std.array() / static_cast<float>(M))).matrix();

    float* dW = grads.dense_for(*c.weight).values.data();
    float* db = grads.dense_for(*c.bias).values.data();
    for (Index p = 0; p < M; ++p) {
      const Index f = ids.field_of(p);
      const float* e = c.rows->row(search_rows_[p]);
      const float* g = dx_.data() + p * D;
      for (Index i = 0; i < w; ++i) {
        float* dW_row = dW + (f * w + i) * D;
        for (Index j = 0; j < D; ++j) dW_row[j] += e[i] * g[j];
      }
      for (Index j = 0; j < D; ++j) db[f * D + j] += g[j];
    }
    scatter_param_grad(*c.rows, search_rows_, groups_, grads, [&](Index p, float* acc) {
      const float* W = c.weight->row(ids.field_of(p) * w);
      kernels::mde_project_back(W, w, D, dx_.data() + p * D, acc);
    });
  }

  /// Chooses the widths within the budget, builds each field's table from the chosen
  /// candidate (warm_start) and releases the search storage.
  void enter_retrain() {
    const Index F = schema().num_fields(), D = dim();
    choice_.values = autodim::choose_widths(schema(), widths_, log_probabilities(), budget());
    for (Index f = 0; f < F; ++f) build_field(f);
    for (Candidate& c : candidates_) {
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
    const Candidate& c = candidates_[k];
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
      const float inv_std = 1.0f / std::sqrt(c.norm->row(1)[j] + kNormEps);
      for (Index i = 0; i < w; ++i) field.projection->row(i)[j] *= inv_std;
      field.bias->data()[j] = (field.bias->data()[j] - c.norm->row(0)[j]) * inv_std;
    }
  }

  /// Roles by phase: the search storage and alpha while searching, the fields' after.
  void set_roles() {
    const bool search = searching();
    for (Candidate& c : candidates_) {
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
  std::vector<Candidate> candidates_;
  ProjectedFields chosen_;

  // search scratch, reused from batch to batch
  std::vector<CandidateCache> cache_;
  std::vector<float> mix_;              ///< [F x K] this step's P
  std::vector<Index> forwarded_;        ///< ids of the last training forward
  Index last_batch_ = 0;
  std::vector<float> scratch_out_;
  std::vector<float> dx_;               ///< [B*F x d]
  std::vector<Index> search_rows_;      ///< stacked row of each position
  kernels::RowGroups groups_;
};

}  // namespace embcomp
