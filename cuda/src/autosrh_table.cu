// AutoSrhTable (cuda/include/embcomp/cuda/autosrh_table.hpp): the kernels and their driver. The
// same source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/autosrh_table.hpp"

#include <cmath>
#include <string>
#include <utility>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The table as the kernels read it.
struct AutoSrhRows {
  const Index* offsets;       ///< [F] field f's first row
  const float* values;        ///< E [N x d]
  const float* alpha;         ///< [G x d]
  const std::uint8_t* group;  ///< [N]
  const std::uint64_t* mask;  ///< null before the retrain's mask
  Index d;

  EMBCOMP_DEVICE Index row(Index p, Index fields, Index id) const {
    return offsets[p % fields] + id;
  }
  EMBCOMP_DEVICE bool kept(Index r, Index c) const {
    const Index entry = r * d + c;
    return (mask[entry >> 6] >> (entry & 63)) & 1u;
  }
  /// The weight entry (r, c) is read and trained with: kept or not under the mask, else alpha.
  EMBCOMP_DEVICE float weight(Index r, Index c) const {
    if (mask != nullptr) return kept(r, c) ? 1.0f : 0.0f;
    return alpha[static_cast<Index>(group[r]) * d + c];
  }
};

/// One thread per output element: E[r] * alpha[g(r)], or E[r] where the mask keeps it.
EMBCOMP_KERNEL void autosrh_lookup_kernel(BatchIds batch, AutoSrhRows table, float* out) {
  for (Index i = thread_index(); i < batch.count * table.d; i += thread_count()) {
    const Index p = i / table.d;
    const Index c = i - p * table.d;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const Index r = table.row(p, batch.fields, id);
    const float e = table.values[r * table.d + c];
    if (table.mask != nullptr) {
      out[i] = table.kept(r, c) ? e : 0.0f;
    } else {
      out[i] = e * table.weight(r, c);
    }
  }
}

/// Sort keys by position: the row of the position's id (kNoRow for a bad id, which is
/// recorded); dE row p is checked too.
EMBCOMP_KERNEL void autosrh_rows_kernel(BatchIds batch, AutoSrhRows table, const float* dE,
                                        RowKey* keys, Position* positions,
                                        unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, table.d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index id = batch.checked_id(p);
    keys[p] = id < 0 ? kNoRow : static_cast<RowKey>(table.row(p, batch.fields, id));
  }
}

/// A run's summed dE times the entry's weight (alpha, or the mask's 0 or 1), as the CPU scales
/// the summed gradient.
struct AutoSrhFinish {
  AutoSrhRows table;
  EMBCOMP_DEVICE float operator()(RowKey row, Index c, float g) const {
    const auto r = static_cast<Index>(row);
    if (table.mask != nullptr) return table.kept(r, c) ? g : 0.0f;
    return g * table.weight(r, c);
  }
};

/// One thread per (group, column): the sum over the validation batch's positions of the group,
/// ascending, of dE[p][c] E[r][c].
EMBCOMP_KERNEL void autosrh_alpha_gradient_kernel(BatchIds batch, AutoSrhRows table, Index groups,
                                                  const float* dE, float* gradient) {
  for (Index t = thread_index(); t < groups * table.d; t += thread_count()) {
    const Index g = t / table.d;
    const Index c = t - g * table.d;
    float sum = 0.0f;
    for (Index p = 0; p < batch.count; ++p) {
      const Index id = batch.checked_id(p);
      if (id < 0) continue;
      const Index r = table.row(p, batch.fields, id);
      if (static_cast<Index>(table.group[r]) == g)
        sum += dE[p * table.d + c] * table.values[r * table.d + c];
    }
    gradient[t] = sum;
  }
}

/// One thread per group: the L1 term where alpha > 0, the mean magnitude, and the clipped step
/// (AutoSrhTable::on_validation_batch's arithmetic).
EMBCOMP_KERNEL void autosrh_alpha_step_kernel(Index groups, Index d, float alpha_l1, float alpha_lr,
                                              float* gradient, float* alpha,
                                              const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index group = thread_index(); group < groups; group += thread_count()) {
    float* a = alpha + group * d;
    float* g = gradient + group * d;
    float mean = 0.0f;
    for (Index c = 0; c < d; ++c) {
      if (a[c] > 0.0f) g[c] += alpha_l1;
      mean += std::fabs(g[c]);
    }
    mean /= static_cast<float>(d);
    for (Index c = 0; c < d; ++c) {
      const float stepped = a[c] - alpha_lr * g[c] / (mean + 1e-8f);
      a[c] = stepped < 0.0f ? 0.0f : (stepped > 1.0f ? 1.0f : stepped);
    }
  }
}

}  // namespace detail

struct AutoSrhTable::Parts {
  DeviceRows rows;
  DeviceArray<Index> offsets;
  Index groups = 1;
  DeviceArray<float> alpha, alpha_gradient;
  DeviceArray<std::uint8_t> group;
  DeviceArray<std::uint64_t> mask;
  float alpha_l1 = 0.0f, alpha_lr = 0.0f;
  bool searching = false;
  SortedPositions order;
  DeviceArray<float> row_gradients;

  detail::AutoSrhRows table(Index d) const {
    return {offsets.data(),
            rows.values.data(),
            alpha.data(),
            group.data(),
            mask.size() > 0 ? mask.data() : nullptr,
            d};
  }
};

AutoSrhTable::AutoSrhTable(std::string method, std::vector<Index> cardinalities,
                           const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      parts_(std::make_unique<Parts>()) {
  const auto words = static_cast<std::size_t>((host.rows * host.dim + 63) / 64);
  if (host.offsets.size() != cardinalities_.size() || dim_ <= 0 ||
      host.rows >= Index{detail::kNoRow} || host.values == nullptr || host.alpha == nullptr ||
      host.groups < 1 || host.group.size() != static_cast<std::size_t>(host.rows) ||
      (!host.mask.empty() && host.mask.size() != words)) {
    throw InvalidArgument(
        "cuda::AutoSrhTable: " + std::to_string(host.offsets.size()) + " field offsets for " +
        std::to_string(cardinalities_.size()) + " fields, " + std::to_string(host.rows) +
        " rows of d = " + std::to_string(dim_) + ", " + std::to_string(host.group.size()) +
        " row groups and a mask of " + std::to_string(host.mask.size()) + " words");
  }
  for (const std::uint8_t g : host.group) {
    if (g >= host.groups) {
      throw InvalidArgument("cuda::AutoSrhTable: a row in group " + std::to_string(g) + " of " +
                            std::to_string(host.groups));
    }
  }
  Parts& parts = *parts_;
  parts.rows = DeviceRows(host.rows, dim_, host.values, host.lr_scale);
  parts.offsets = DeviceArray<Index>::from(host.offsets);
  parts.groups = host.groups;
  parts.alpha =
      DeviceArray<float>::from({host.alpha, static_cast<std::size_t>(host.groups * dim_)});
  parts.alpha_gradient = DeviceArray<float>(static_cast<std::size_t>(host.groups * dim_));
  parts.group = DeviceArray<std::uint8_t>::from(host.group);
  parts.mask = DeviceArray<std::uint64_t>::from(host.mask);
  parts.alpha_l1 = host.alpha_l1;
  parts.alpha_lr = host.alpha_lr;
  parts.searching = host.searching;
}

AutoSrhTable::AutoSrhTable(AutoSrhTable&&) noexcept = default;
AutoSrhTable& AutoSrhTable::operator=(AutoSrhTable&&) noexcept = default;
AutoSrhTable::~AutoSrhTable() = default;

void AutoSrhTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(ids.size() * dim_, detail::autosrh_lookup_kernel, batch, parts_->table(dim_), out);
  throw_on_flags(ids, dim_);
}

void AutoSrhTable::train_step(const DeviceIds& ids, const float* dE,
                              const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  Parts& parts = *parts_;
  const Index count = ids.size();
  parts.order.reserve(count);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  const detail::AutoSrhRows table = parts.table(dim_);
  detail::launch(count, detail::autosrh_rows_kernel, batch, table, dE, parts.order.keys.data(),
                 parts.order.positions.data(), &flags()[1]);
  detail::sort_positions(parts.order, library_scratch_, count);
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    detail::launch_runs_update(
        parts.order.sorted_keys.data(), parts.order.sorted_positions.data(), count, dim_,
        detail::GatherContribution{dE, dim_}, parts.rows.values.data(), parts.rows.state.data(),
        rule, rule.coefficients(optimizer.learning_rate * parts.rows.lr_scale, step),
        parts.row_gradients, flags(), detail::AutoSrhFinish{table});
  });
  throw_on_flags(ids, dim_);
  steps_ = step;
}

bool AutoSrhTable::takes_validation_batches() const {
  return parts_->searching;
}

void AutoSrhTable::on_validation_batch(const DeviceIds& ids, const float* dE) {
  if (!parts_->searching) {
    DeviceTable::on_validation_batch(ids, dE);  // refuses
    return;
  }
  check_batch(ids);
  Parts& parts = *parts_;
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(parts.groups * dim_, detail::autosrh_alpha_gradient_kernel, batch,
                 parts.table(dim_), parts.groups, dE, parts.alpha_gradient.data());
  detail::launch(parts.groups, detail::autosrh_alpha_step_kernel, parts.groups, dim_,
                 parts.alpha_l1, parts.alpha_lr, parts.alpha_gradient.data(), parts.alpha.data(),
                 static_cast<const unsigned long long*>(flags()));
  throw_on_flags(ids, dim_);
}

std::vector<float> AutoSrhTable::rows_to_host(const std::string& parameter) const {
  if (parameter == "rows") return parts_->rows.values.to_host();
  if (parameter == "alpha") return parts_->alpha.to_host();
  throw InvalidArgument("cuda::AutoSrhTable: no parameter '" + parameter + "' (rows, alpha)");
}

DeviceTable::StateSpan AutoSrhTable::state_span(const std::string& parameter) const {
  if (parameter == "rows") return span_of(parts_->rows.state, parts_->rows.state_slots);
  if (parameter == "alpha") return {};  // stepped by validation batches, stateless
  throw InvalidArgument("cuda::AutoSrhTable: no parameter '" + parameter + "' (rows, alpha)");
}

void AutoSrhTable::ensure_state(const DeviceOptimizer& optimizer) {
  parts_->rows.ensure_state(optimizer, "cuda::AutoSrhTable (" + method_ + ")", true);
}

}  // namespace embcomp::cuda
