// OptEmbedTable (cuda/include/embcomp/cuda/optembed_table.hpp): the kernels and their driver.
// The same source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/optembed_table.hpp"

#include <cmath>
#include <string>
#include <utility>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/magnitude.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The supernet's parameters as the kernels read them.
struct Supernet {
  const Index* offsets;     ///< [F] field f's first row
  const float* rows;        ///< E [N x d]
  const float* thresholds;  ///< t [F]
  Index d;
  std::uint64_t seed;
  std::uint64_t step;  ///< supernet steps taken

  /// The mask width of position p of a batch of `count` positions: its draw while training,
  /// every entry otherwise.
  EMBCOMP_DEVICE Index width(Index p, Index count, bool training) const {
    return training ? kernels::supernet_mask_width(seed, step, count, p, d) : d;
  }
};

/// One thread per position: out[p] = step(|E[r]|_1 - t_f) E[r] on the mask's first entries.
EMBCOMP_KERNEL void supernet_lookup_kernel(BatchIds batch, Supernet net, bool training,
                                           float* out) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const Index f = p % batch.fields;
    const float* e = net.rows + (net.offsets[f] + id) * net.d;
    const float m = kernels::binary_step(kernels::row_score(e, net.d, net.thresholds[f]));
    const Index width = net.width(p, batch.count, training);
    for (Index c = 0; c < net.d; ++c) out[p * net.d + c] = c < width ? m * e[c] : 0.0f;
  }
}

/// One thread per position: its row as a sort key (kNoRow for a bad id, which is recorded), dE
/// row p checked, and from the parameters before the step its row mask m, its mask width and
/// its slope s(x) (E[r] M) . dE[p] (0 for a bad id).
EMBCOMP_KERNEL void supernet_positions_kernel(BatchIds batch, Supernet net, const float* dE,
                                              RowKey* keys, Position* positions, float* masks,
                                              Index* widths, float* slopes,
                                              unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, net.d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index id = batch.checked_id(p);
    if (id < 0) {
      keys[p] = kNoRow;
      slopes[p] = 0.0f;
      continue;
    }
    const Index f = p % batch.fields;
    const Index r = net.offsets[f] + id;
    const float* e = net.rows + r * net.d;
    const float x = kernels::row_score(e, net.d, net.thresholds[f]);
    const Index width = net.width(p, batch.count, true);
    keys[p] = static_cast<RowKey>(r);
    masks[p] = kernels::binary_step(x);
    widths[p] = width;
    slopes[p] = kernels::binary_step_surrogate(x) * kernels::masked_dot(e, width, dE + p * net.d);
  }
}

/// The contribution of position p to column c of its row's gradient, from the row before the
/// step (each column is read and then updated by the same thread).
struct SupernetContribution {
  const float* dE;
  const float* rows;
  const RowKey* keys;  ///< by position
  const float* masks;
  const Index* widths;
  const float* slopes;
  Index d;
  EMBCOMP_DEVICE float operator()(Position p, Index c) const {
    const float e = rows[static_cast<Index>(keys[p]) * d + c];
    return kernels::supernet_entry_gradient(e, dE[p * d + c], c, widths[p], masks[p], slopes[p]);
  }
};

/// One thread per field: dt_f = -alpha exp(-t_f) less the slopes of the field's positions in
/// ascending order (the CPU's sum).
EMBCOMP_KERNEL void supernet_threshold_gradient_kernel(Index count, Index fields,
                                                       const float* thresholds, double alpha,
                                                       const float* slopes, float* gradient,
                                                       const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index f = thread_index(); f < fields; f += thread_count()) {
    float g = static_cast<float>(-alpha * std::exp(-static_cast<double>(thresholds[f])));
    for (Index p = f; p < count; p += fields) g -= slopes[p];
    gradient[f] = g;
  }
}

/// t_f -= lr dt_f for every field.
EMBCOMP_KERNEL void supernet_threshold_step_kernel(Index fields, float lr, const float* gradient,
                                                   float* thresholds) {
  for (Index f = thread_index(); f < fields; f += thread_count()) thresholds[f] -= lr * gradient[f];
}

}  // namespace detail

struct OptEmbedTable::Parts {
  DeviceRows rows;
  DeviceArray<Index> offsets;
  DeviceArray<float> thresholds;
  DeviceArray<float> threshold_gradient;
  bool gradient_pending = false;  ///< a step's dt waits for after_step
  SortedPositions order;
  DeviceArray<float> masks, slopes, row_gradients;
  DeviceArray<Index> widths;

  detail::Supernet net(Index d, std::uint64_t seed, std::uint64_t step) const {
    return {offsets.data(), rows.values.data(), thresholds.data(), d, seed, step};
  }
};

OptEmbedTable::OptEmbedTable(std::string method, std::vector<Index> cardinalities,
                             const HostSupernet& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      alpha_(host.alpha),
      threshold_lr_(host.threshold_lr),
      seed_(host.seed),
      supernet_steps_(host.supernet_steps),
      parts_(std::make_unique<Parts>()),
      untrained_(host.untrained) {
  if (host.offsets.size() != cardinalities_.size() || dim_ <= 0 ||
      host.rows >= Index{detail::kNoRow} || host.values == nullptr || host.thresholds == nullptr) {
    throw InvalidArgument("cuda::OptEmbedTable: " + std::to_string(host.offsets.size()) +
                          " field offsets for " + std::to_string(cardinalities_.size()) +
                          " fields, " + std::to_string(host.rows) +
                          " rows of d = " + std::to_string(dim_) + ", with values and thresholds");
  }
  Parts& parts = *parts_;
  parts.rows = DeviceRows(host.rows, dim_, host.values, host.lr_scale);
  parts.offsets = DeviceArray<Index>::from(host.offsets);
  parts.thresholds =
      DeviceArray<float>::from({host.thresholds, static_cast<std::size_t>(fields())});
  parts.threshold_gradient = DeviceArray<float>(static_cast<std::size_t>(fields()));
}

OptEmbedTable::OptEmbedTable(OptEmbedTable&&) noexcept = default;
OptEmbedTable& OptEmbedTable::operator=(OptEmbedTable&&) noexcept = default;
OptEmbedTable::~OptEmbedTable() = default;

void OptEmbedTable::embed(const DeviceIds& ids, float* out, bool training) const {
  check_batch(ids);
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(ids.size(), detail::supernet_lookup_kernel, batch,
                 parts_->net(dim_, seed_, supernet_steps_), training, out);
  throw_on_flags(ids, dim_);
}

void OptEmbedTable::lookup(const DeviceIds& ids, float* out) const {
  embed(ids, out, false);
}

void OptEmbedTable::forward(const DeviceIds& ids, float* out) {
  embed(ids, out, true);
}

void OptEmbedTable::train_step(const DeviceIds& ids, const float* dE,
                               const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  Parts& parts = *parts_;
  const Index count = ids.size();
  const auto n = static_cast<std::size_t>(count);
  parts.order.reserve(count);
  for (auto* scratch : {&parts.masks, &parts.slopes}) scratch->reserve(n);
  parts.widths.reserve(n);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  const detail::Supernet net = parts.net(dim_, seed_, supernet_steps_);
  // 1. Every position's mask, width and slope, and the thresholds' gradient, from the
  //    parameters before the step.
  detail::launch(count, detail::supernet_positions_kernel, batch, net, dE, parts.order.keys.data(),
                 parts.order.positions.data(), parts.masks.data(), parts.widths.data(),
                 parts.slopes.data(), &flags()[1]);
  detail::launch(fields(), detail::supernet_threshold_gradient_kernel, count, fields(),
                 static_cast<const float*>(parts.thresholds.data()), alpha_,
                 static_cast<const float*>(parts.slopes.data()), parts.threshold_gradient.data(),
                 static_cast<const unsigned long long*>(flags()));
  // 2. The rows, fused with the optimizer's step.
  detail::sort_positions(parts.order, library_scratch_, count);
  const std::uint64_t step = steps_ + 1;
  const detail::SupernetContribution contribution{dE,
                                                  parts.rows.values.data(),
                                                  parts.order.keys.data(),
                                                  parts.masks.data(),
                                                  parts.widths.data(),
                                                  parts.slopes.data(),
                                                  dim_};
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    detail::launch_runs_update(
        parts.order.sorted_keys.data(), parts.order.sorted_positions.data(), count, dim_,
        contribution, parts.rows.values.data(), parts.rows.state.data(), rule,
        rule.coefficients(optimizer.learning_rate * parts.rows.lr_scale, step), parts.row_gradients,
        flags());
  });
  throw_on_flags(ids, dim_);
  parts.gradient_pending = true;
  steps_ = step;
}

void OptEmbedTable::after_step(const StepContext& /*ctx*/) {
  Parts& parts = *parts_;
  ++supernet_steps_;
  if (!parts.gradient_pending) return;
  detail::launch(fields(), detail::supernet_threshold_step_kernel, fields(), threshold_lr_,
                 static_cast<const float*>(parts.threshold_gradient.data()),
                 parts.thresholds.data());
  parts.gradient_pending = false;
}

double OptEmbedTable::auxiliary_loss() const {
  double sum = 0.0;
  for (const float t : parts_->thresholds.to_host()) sum += std::exp(-static_cast<double>(t));
  return alpha_ * sum;
}

std::vector<float> OptEmbedTable::rows_to_host(const std::string& parameter) const {
  if (parameter == "rows") return parts_->rows.values.to_host();
  if (parameter == "threshold") return parts_->thresholds.to_host();
  if (const std::vector<float>* values = untrained_.find(parameter)) return *values;
  throw InvalidArgument("cuda::OptEmbedTable: no parameter '" + parameter + "' (rows, threshold)");
}

DeviceTable::StateSpan OptEmbedTable::state_span(const std::string& parameter) const {
  if (parameter == "rows") return span_of(parts_->rows.state, parts_->rows.state_slots);
  if (parameter == "threshold") return {};  // its own SGD, stateless
  if (untrained_.find(parameter) != nullptr) return {};
  throw InvalidArgument("cuda::OptEmbedTable: no parameter '" + parameter + "' (rows, threshold)");
}

void OptEmbedTable::ensure_state(const DeviceOptimizer& optimizer) {
  parts_->rows.ensure_state(optimizer, "cuda::OptEmbedTable (" + method_ + ")", true);
}

}  // namespace embcomp::cuda
