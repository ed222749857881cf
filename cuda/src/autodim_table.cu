// AutoDimTable (cuda/include/embcomp/cuda/autodim_table.hpp): the mixing kernels and the driver.
// Each candidate's projected rows are a cuda::MdeTable under the candidate's stacked names (its
// lookup is R_k[r] W_k[f] + b_k[f], its step mde's fused row update and dense projection and
// bias), and its BatchNorm dense_layers' BatchNormLayer with a fixed unit scale and zero shift.
// The same source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/autodim_table.hpp"

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "backend.cuh"
#include "dense_layers.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/cuda/mde_table.hpp"
#include "embcomp/kernels/batch_norm.hpp"
#include "embcomp/methods/autodim_mixing.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The batch's ids checked (the first bad position recorded) and, with dE, its rows.
EMBCOMP_KERNEL void autodim_check_kernel(BatchIds batch, const float* dE, Index d,
                                         unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    batch.checked_id(p);
    if (dE != nullptr) check_finite_row(dE, p, d, bad_value_index);
  }
}

/// out = (first ? 0 : out) + P[f][k] h, elementwise over [count x d] (position p of field
/// p % fields): candidate k's share of the mix, k ascending as the CPU adds them.
EMBCOMP_KERNEL void autodim_mix_kernel(const float* h, const float* P, Index K, Index k,
                                       Index count, Index fields, Index d, bool first, float* out) {
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    const Index f = (i / d) % fields;
    out[i] = (first ? 0.0f : out[i]) + P[f * K + k] * h[i];
  }
}

/// x̂ = (x - mean) inverse_std(var) on the running statistics `norm` [2 x d], in place
/// (BatchNorm in evaluation mode, as the CPU's eval_candidate).
EMBCOMP_KERNEL void autodim_eval_norm_kernel(const float* norm, Index count, Index d, float eps,
                                             float* x) {
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    const Index j = i % d;
    x[i] = (x[i] - norm[j]) * kernels::inverse_std(norm[d + j], eps);
  }
}

/// dh = P[f][k] dE, elementwise: candidate k's output gradient.
EMBCOMP_KERNEL void autodim_share_kernel(const float* dE, const float* P, Index K, Index k,
                                         Index count, Index fields, Index d, float* dh) {
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    dh[i] = P[((i / d) % fields) * K + k] * dE[i];
  }
}

/// dots[p][k] = sum over c, ascending, of dE[p][c] h[p][c] in double (h candidate k's eval
/// output [count x d]).
EMBCOMP_KERNEL void autodim_dots_kernel(const float* dE, const float* h, Index count, Index d,
                                        Index K, Index k, double* dots) {
  for (Index p = thread_index(); p < count; p += thread_count()) {
    double dot = 0.0;
    for (Index c = 0; c < d; ++c) dot += static_cast<double>(dE[p * d + c]) * h[p * d + c];
    dots[p * K + k] = dot;
  }
}

/// dP[f][k] = the sum over samples b, ascending, of dots[b F + f][k] (the CPU's position order).
EMBCOMP_KERNEL void autodim_mixing_gradient_kernel(const double* dots, Index batch, Index fields,
                                                   Index K, double* dP) {
  for (Index i = thread_index(); i < fields * K; i += thread_count()) {
    const Index f = i / K;
    const Index k = i - f * K;
    double sum = 0.0;
    for (Index b = 0; b < batch; ++b) sum += dots[(b * fields + f) * K + k];
    dP[i] = sum;
  }
}

}  // namespace detail

using detail::Activations;
using detail::BatchNormLayer;
using detail::DenseParameter;

/// The candidates, their BatchNorms, the host-side logits and counters, and the scratch.
struct AutoDimTable::Parts {
  /// Candidate k: its projected rows, BatchNorm (scale 1 and shift 0, never stepped) and names.
  struct Candidate {
    std::string prefix;  ///< "search<w>"
    MdeTable rows;
    DenseParameter running, gamma, beta;
    std::unique_ptr<BatchNormLayer> norm;
  };

  std::deque<Candidate> candidates;
  UntrainedParameters untrained;
  Logits logits;
  Index last_batch = 0;  ///< samples of the last training forward
  // What the last forward() saw, for train_step: its device ids and batch.
  const Index* forwarded_ids = nullptr;
  Index forwarded_batch = -1;
  DeviceArray<float> mixing;            ///< [F x K] the last lookup's weights
  DeviceArray<float> train_mixing;      ///< [F x K] the last training forward's
  Activations projected;                ///< [B*F x d] one candidate's R W + b
  Activations share;                    ///< [B*F x d] one candidate's dh
  Activations forward_out;              ///< [B*F x d] train_step's forward when recomputed
  DeviceArray<double> dots;             ///< [B*F x K]
  DeviceArray<double> mixing_gradient;  ///< [F x K]
  DeviceArray<unsigned long long> first_bad{1};

  Index count() const { return static_cast<Index>(candidates.size()); }
  Index fields() const { return static_cast<Index>(logits.alpha.size()) / count(); }
  float temperature() const {
    return autodim::temperature(logits.temperature_decay, logits.samples_seen);
  }
  /// The mixing weights [F x K] now, with this step's Gumbel noise or none (the CPU table's).
  std::vector<float> mixing_weights(bool noise) const {
    return autodim::mixing_weights(logits.alpha.data(), fields(), count(), temperature(),
                                   logits.mixing_stream, logits.search_steps, noise);
  }
  /// The candidate whose prefix `parameter` has; InvalidArgument for none.
  const Candidate& at(const std::string& parameter) const {
    for (const Candidate& c : candidates) {
      if (parameter.starts_with(c.prefix + ".")) return c;
    }
    throw InvalidArgument("cuda::AutoDimTable: no parameter '" + parameter +
                          "' (search<w>.rows, .weight, .bias and .norm, and alpha)");
  }

  /// The training forward: out [B*F x d] = sum_k P h_k with batch statistics (ids checked);
  /// `P` the device mixing weights.
  void train_forward(const DeviceIds& ids, Index d, const float* P, float* out,
                     bool update_running) {
    const Index count = ids.size(), K = this->count();
    for (Index k = 0; k < K; ++k) {
      Candidate& c = candidates[static_cast<std::size_t>(k)];
      float* x = projected.resize(count, d);
      c.rows.lookup(ids, x);
      const float* h = c.norm->forward(x, count, /*batch_statistics=*/true, update_running);
      detail::launch(count * d, detail::autodim_mix_kernel, h, P, K, k, count, ids.fields, d,
                     k == 0, out);
    }
  }

  /// Every candidate's BatchNorm input gradient dx_k [B*F x d] (each in its own layer) from the
  /// output gradient dE, through the last training forward's mixing weights and batch statistics;
  /// checked all at once, before any candidate steps: finite dE can overflow in a BatchNorm's
  /// batch sums, and a refused step changes nothing. NonFiniteGradient names the first.
  std::vector<const float*> normalization_gradients(const DeviceIds& ids, Index d,
                                                    const float* dE) {
    const Index count = ids.size(), K = this->count();
    std::vector<const float*> dx;
    fill_device(first_bad.data(), 0xff, sizeof(unsigned long long));
    for (Index k = 0; k < K; ++k) {
      float* dh = share.resize(count, d);
      detail::launch(count * d, detail::autodim_share_kernel, dE,
                     static_cast<const float*>(train_mixing.data()), K, k, count, ids.fields, d,
                     dh);
      dx.push_back(candidates[static_cast<std::size_t>(k)].norm->backward(dh));
      detail::record_non_finite(dx.back(), count * d, k * count * d, first_bad.data());
    }
    const unsigned long long first = first_bad.to_host()[0];
    if (first != detail::kNone) {
      const auto k = static_cast<Index>(first) / (count * d);
      const auto i = static_cast<Index>(first) % (count * d);
      throw NonFiniteGradient(
          "cuda::AutoDimTable: candidate " + candidates[static_cast<std::size_t>(k)].prefix +
          "'s BatchNorm gradient holds a NaN or Inf at row " + std::to_string(i / d) + ", column " +
          std::to_string(i % d) +
          " (dE is finite; its batch sums overflowed); the step was refused and nothing was "
          "changed");
    }
    return dx;
  }
};

AutoDimTable::AutoDimTable(std::string method, std::vector<Index> cardinalities,
                           const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      parts_(std::make_unique<Parts>()) {
  const Index F = fields(), K = static_cast<Index>(host.candidates.size());
  if (dim_ <= 0 || K == 0 || static_cast<Index>(host.logits.alpha.size()) != F * K) {
    throw InvalidArgument("cuda::AutoDimTable: " + std::to_string(K) + " candidates, " +
                          std::to_string(host.logits.alpha.size()) + " logits for " +
                          std::to_string(F) + " fields, d = " + std::to_string(dim_));
  }
  Parts& parts = *parts_;
  parts.logits = host.logits;
  parts.untrained = host.untrained;
  for (const HostCandidate& candidate : host.candidates) {
    const Index w = candidate.width;
    if (w < 1 || w > dim_ || candidate.rows == nullptr || candidate.weight == nullptr ||
        candidate.bias == nullptr || candidate.norm == nullptr) {
      throw InvalidArgument("cuda::AutoDimTable: a candidate of width " + std::to_string(w) +
                            " (in [1, d], with its rows, layer, bias and statistics)");
    }
    MdeTable::HostTables tables;
    tables.dim = dim_;
    tables.rows_lr_scale = host.rows_lr_scale;
    tables.projection_lr_scale = host.weight_lr_scale;
    tables.bias_lr_scale = host.bias_lr_scale;
    tables.stacked_names = "search" + std::to_string(w);
    Index row_base = 0;
    for (Index f = 0; f < F; ++f) {
      tables.fields.push_back({cardinalities_[f], w, candidate.rows + row_base * w,
                               candidate.weight + f * w * dim_, candidate.bias + f * dim_});
      row_base += cardinalities_[f];
    }
    Parts::Candidate& c = parts.candidates.emplace_back(
        Parts::Candidate{tables.stacked_names, MdeTable(method_, tables), {}, {}, {}, nullptr});
    const auto d = static_cast<std::size_t>(dim_);
    c.running.name = c.prefix + ".norm";
    c.running.rows = 2;
    c.running.width = dim_;
    c.running.values = DeviceArray<float>::from({candidate.norm, 2 * d});
    c.gamma.rows = c.beta.rows = 1;
    c.gamma.width = c.beta.width = dim_;
    c.gamma.values = DeviceArray<float>::from(std::vector<float>(d, 1.0f));
    c.beta.values = DeviceArray<float>::from(std::vector<float>(d, 0.0f));
    c.gamma.gradient = DeviceArray<float>(d);
    c.beta.gradient = DeviceArray<float>(d);
    c.norm = std::make_unique<BatchNormLayer>(c.gamma, c.beta, c.running, autodim::kNormMomentum,
                                              autodim::kNormEps);
  }
  const std::size_t logits = parts.logits.alpha.size();
  parts.mixing = DeviceArray<float>(logits);
  parts.train_mixing = DeviceArray<float>(logits);
  parts.mixing_gradient = DeviceArray<double>(logits);
}

AutoDimTable::AutoDimTable(AutoDimTable&&) noexcept = default;
AutoDimTable& AutoDimTable::operator=(AutoDimTable&&) noexcept = default;
AutoDimTable::~AutoDimTable() = default;

float AutoDimTable::temperature() const {
  return parts_->temperature();
}

std::vector<float> AutoDimTable::mixing_weights() const {
  return parts_->mixing_weights(false);
}

std::uint64_t AutoDimTable::search_steps() const {
  return parts_->logits.search_steps;
}

std::uint64_t AutoDimTable::samples_seen() const {
  return parts_->logits.samples_seen;
}

void AutoDimTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  Parts& parts = *parts_;
  const Index count = ids.size(), K = parts.count();
  parts.mixing.upload(parts.mixing_weights(/*noise=*/false));
  const float* P = parts.mixing.data();
  for (Index k = 0; k < K; ++k) {
    Parts::Candidate& c = parts.candidates[static_cast<std::size_t>(k)];
    float* h = parts.projected.resize(count, dim_);
    c.rows.lookup(ids, h);  // checks the ids
    detail::launch(count * dim_, detail::autodim_eval_norm_kernel,
                   static_cast<const float*>(c.running.values.data()), count, dim_,
                   autodim::kNormEps, h);
    detail::launch(count * dim_, detail::autodim_mix_kernel, static_cast<const float*>(h), P, K, k,
                   count, ids.fields, dim_, k == 0, out);
  }
}

void AutoDimTable::forward(const DeviceIds& ids, float* out) {
  check_batch(ids);
  Parts& parts = *parts_;
  parts.forwarded_ids = nullptr;
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(ids.size(), detail::autodim_check_kernel, batch,
                 static_cast<const float*>(nullptr), dim_, &flags()[1]);
  throw_on_flags(ids, dim_);  // before any statistic moves
  parts.train_mixing.upload(parts.mixing_weights(/*noise=*/true));
  parts.train_forward(ids, dim_, parts.train_mixing.data(), out, /*update_running=*/true);
  parts.forwarded_ids = ids.ids;
  parts.forwarded_batch = ids.batch;
  parts.last_batch = ids.batch;
}

void AutoDimTable::train_step(const DeviceIds& ids, const float* dE,
                              const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  Parts& parts = *parts_;
  const Index count = ids.size(), K = parts.count();
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::autodim_check_kernel, batch, dE, dim_, &flags()[1]);
  throw_on_flags(ids, dim_);
  if (parts.forwarded_ids != ids.ids || parts.forwarded_batch != ids.batch) {
    // As the CPU's backward after a lookup: the training forward again (this step's noise), the
    // running statistics untouched.
    parts.train_mixing.upload(parts.mixing_weights(/*noise=*/true));
    parts.train_forward(ids, dim_, parts.train_mixing.data(), parts.forward_out.resize(count, dim_),
                        /*update_running=*/false);
  }
  parts.forwarded_ids = nullptr;  // the BatchNorm caches are used up
  const std::vector<const float*> dx = parts.normalization_gradients(ids, dim_, dE);
  for (Index k = 0; k < K; ++k) {
    Parts::Candidate& c = parts.candidates[static_cast<std::size_t>(k)];
    c.rows.set_steps(steps_);
    c.rows.train_step(ids, dx[static_cast<std::size_t>(k)], optimizer);
  }
  ++steps_;
}

void AutoDimTable::on_validation_batch(const DeviceIds& ids, const float* dE) {
  check_batch(ids);
  Parts& parts = *parts_;
  const Index count = ids.size(), K = parts.count(), F = fields();
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::autodim_check_kernel, batch, dE, dim_, &flags()[1]);
  throw_on_flags(ids, dim_);
  parts.dots.reserve(static_cast<std::size_t>(count * K));
  for (Index k = 0; k < K; ++k) {
    Parts::Candidate& c = parts.candidates[static_cast<std::size_t>(k)];
    float* h = parts.projected.resize(count, dim_);
    c.rows.lookup(ids, h);
    detail::launch(count * dim_, detail::autodim_eval_norm_kernel,
                   static_cast<const float*>(c.running.values.data()), count, dim_,
                   autodim::kNormEps, h);
    detail::launch(count, detail::autodim_dots_kernel, dE, static_cast<const float*>(h), count,
                   dim_, K, k, parts.dots.data());
  }
  detail::launch(F * K, detail::autodim_mixing_gradient_kernel,
                 static_cast<const double*>(parts.dots.data()), ids.batch, F, K,
                 parts.mixing_gradient.data());
  autodim::step_logits(parts.logits.alpha.data(), F, K, parts.mixing_weights(/*noise=*/false),
                       parts.mixing_gradient.to_host(), parts.temperature(), parts.logits.alpha_lr);
}

void AutoDimTable::after_step(const StepContext& /*ctx*/) {
  ++parts_->logits.search_steps;
  parts_->logits.samples_seen += static_cast<std::uint64_t>(parts_->last_batch);
}

std::vector<float> AutoDimTable::rows_to_host(const std::string& parameter) const {
  if (parameter == "alpha") return parts_->logits.alpha;
  if (const std::vector<float>* values = parts_->untrained.find(parameter)) return *values;
  const Parts::Candidate& c = parts_->at(parameter);
  if (parameter == c.prefix + ".norm") return c.running.values.to_host();
  return c.rows.rows_to_host(parameter);
}

DeviceTable::StateSpan AutoDimTable::state_span(const std::string& parameter) const {
  if (parameter == "alpha" || parts_->untrained.find(parameter) != nullptr) return {};
  const Parts::Candidate& c = parts_->at(parameter);
  if (parameter == c.prefix + ".norm") return {};  // moved by the forward, not stepped
  return c.rows.state_span(parameter);
}

void AutoDimTable::ensure_state(const DeviceOptimizer& optimizer) {
  for (Parts::Candidate& c : parts_->candidates) c.rows.ensure_state(optimizer);
}

}  // namespace embcomp::cuda
