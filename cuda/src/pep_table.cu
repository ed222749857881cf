// PepTable (cuda/include/embcomp/cuda/pep_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/pep_table.hpp"

#include <string>
#include <utility>

#include "backend.cuh"
#include "dense_layers.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/activations.hpp"
#include "embcomp/kernels/magnitude.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

using Threshold = PepTable::Threshold;

/// Where entry (r, c)'s threshold lives, and in which column of a threshold row.
struct PepThresholds {
  Threshold kind;
  Index d;
  const float* values;  ///< null in the retrain stage

  EMBCOMP_DEVICE Index index(Index r, Index c) const {
    switch (kind) {
      case Threshold::entry:
        return r * d + c;
      case Threshold::row:
        return r;
      case Threshold::column:
        return c;
      case Threshold::global:
        return 0;
    }
    return 0;
  }
  EMBCOMP_DEVICE float cut(Index r, Index c) const { return kernels::sigmoid(values[index(r, c)]); }
};

/// A position's stacked row: offsets[f] + id.
struct PepRows {
  const Index* offsets;
  EMBCOMP_DEVICE Index row(Index p, Index fields, Index id) const {
    return offsets[p % fields] + id;
  }
};

EMBCOMP_DEVICE bool kept(const std::uint64_t* mask, Index entry) {
  return (mask[entry >> 6] >> (entry & 63)) & 1u;
}

/// One thread per output element: the soft threshold of the entry (pruning) or the entry where
/// the mask keeps it (retrain).
EMBCOMP_KERNEL void pep_lookup_kernel(BatchIds batch, PepRows rows, const float* values, Index d,
                                      PepThresholds thresholds, const std::uint64_t* mask,
                                      float* out) {
  for (Index i = thread_index(); i < batch.count * d; i += thread_count()) {
    const Index p = i / d;
    const Index c = i - p * d;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const Index r = rows.row(p, batch.fields, id);
    const float v = values[r * d + c];
    out[i] = mask != nullptr ? (kept(mask, r * d + c) ? v : 0.0f)
                             : kernels::soft_threshold(v, thresholds.cut(r, c));
  }
}

/// Sort keys by position: the row of the position's id (kNoRow for a bad id, which is recorded);
/// dE row p is checked too.
EMBCOMP_KERNEL void pep_rows_kernel(BatchIds batch, PepRows rows, const float* dE, Index d,
                                    RowKey* keys, Position* positions,
                                    unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index id = batch.checked_id(p);
    keys[p] = id < 0 ? kNoRow : static_cast<RowKey>(rows.row(p, batch.fields, id));
  }
}

/// The retrain's contribution of position p to column c of its row: dE where the mask keeps the
/// entry, 0 elsewhere (the CPU zeroes the summed gradient there: the same value).
struct MaskedContribution {
  const float* dE;
  Index d;
  const RowKey* rows;  ///< by position
  const std::uint64_t* mask;
  EMBCOMP_DEVICE float operator()(Position p, Index c) const {
    return kept(mask, static_cast<Index>(rows[p]) * d + c) ? dE[p * d + c] : 0.0f;
  }
};

/// One thread per (sorted position, column); at a run head: g = the run's dE sum (ascending
/// positions), the entry's gradient gv = g where it is active (|v| > t), else 0, and its
/// threshold term gt = -sign(v) t (1 - t) g where active, else 0 (PepTable::backward_entry).
EMBCOMP_KERNEL void pep_prune_gradients_kernel(const RowKey* sorted_rows,
                                               const Position* sorted_positions, Index count,
                                               Index d, const float* dE, const float* values,
                                               PepThresholds thresholds, float* gv, float* gt,
                                               const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    const Index head = i / d;
    const RowKey key = sorted_rows[head];
    if (key == kNoRow) return;
    if (!starts_run(sorted_rows, head)) continue;
    const Index c = i - head * d;
    const float g =
        run_gradient(sorted_rows, sorted_positions, count, head, c, GatherContribution{dE, d});
    const auto r = static_cast<Index>(key);
    const float v = values[r * d + c];
    const float t = thresholds.cut(r, c);
    const bool active = std::fabs(v) > t;
    gv[i] = active ? g : 0.0f;
    gt[i] = active ? -std::copysign(1.0f, v) * t * (1.0f - t) * g : 0.0f;
  }
}

/// A per-row threshold's gradient at each run head: its row's terms (a per-entry threshold) or
/// their sum over the columns in order (a per-row one), added to a zeroed row, as the CPU.
EMBCOMP_KERNEL void pep_row_threshold_kernel(const RowKey* sorted_rows, Index count, Index d,
                                             Index width, const float* gt, float* ds,
                                             const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index head = thread_index(); head < count; head += thread_count()) {
    if (sorted_rows[head] == kNoRow) return;
    if (!starts_run(sorted_rows, head)) continue;
    if (width == d) {
      for (Index c = 0; c < d; ++c) ds[head * width + c] = 0.0f + gt[head * d + c];
    } else {
      float sum = 0.0f;
      for (Index c = 0; c < d; ++c) sum += gt[head * d + c];
      ds[head] = sum;
    }
  }
}

/// Each run head's first position as a sort key (the order the CPU meets its unique rows), the
/// others kNoRow.
EMBCOMP_KERNEL void pep_first_positions_kernel(const RowKey* sorted_rows,
                                               const Position* sorted_positions, Index count,
                                               RowKey* first, Position* heads) {
  for (Index i = thread_index(); i < count; i += thread_count()) {
    heads[i] = static_cast<Position>(i);
    const bool head = sorted_rows[i] != kNoRow && starts_run(sorted_rows, i);
    first[i] = head ? static_cast<RowKey>(sorted_positions[i]) : kNoRow;
  }
}

/// A shared threshold's gradient (per column, width d; or global, width 1): one thread per
/// column sums the heads' terms in the order of their first positions (`ordered_heads`), over
/// the columns in order within each for the global one.
EMBCOMP_KERNEL void pep_shared_threshold_kernel(const RowKey* ordered_first,
                                                const Position* ordered_heads, Index count, Index d,
                                                Index width, const float* gt, float* ds,
                                                const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index column = thread_index(); column < width; column += thread_count()) {
    float sum = 0.0f;
    for (Index j = 0; j < count && ordered_first[j] != kNoRow; ++j) {
      const float* terms = gt + static_cast<Index>(ordered_heads[j]) * d;
      if (width == d) {
        sum += terms[column];
      } else {
        for (Index c = 0; c < d; ++c) sum += terms[c];
      }
    }
    ds[column] = sum;
  }
}

}  // namespace detail

/// The stage's parameters and the step's scratch.
struct PepTable::Parts {
  DeviceRows rows;
  DeviceArray<Index> offsets;
  bool pruning = true;
  Threshold kind = Threshold::entry;
  DeviceRows row_thresholds;                ///< a per-entry or per-row threshold ([N x width])
  detail::DenseParameter shared_threshold;  ///< a per-column or global one ([1 x width])
  DeviceArray<std::uint64_t> mask;          ///< the retrain's keep mask
  float retrain_threshold = 0.0f;           ///< the CPU table's unused [1 x 1] in the retrain
  SortedPositions order;
  DeviceArray<std::uint32_t> first, sorted_first;
  DeviceArray<std::int32_t> heads, ordered_heads;
  DeviceArray<float> gv, gt, ds, row_gradients;

  bool per_row() const { return kind == Threshold::entry || kind == Threshold::row; }
  const float* threshold_values() const {
    return per_row() ? row_thresholds.values.data() : shared_threshold.values.data();
  }
};

PepTable::PepTable(std::string method, std::vector<Index> cardinalities, const HostTables& host,
                   embcomp::PepTable* schedule)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      parts_(std::make_unique<Parts>()),
      schedule_(schedule) {
  Parts& parts = *parts_;
  if (host.offsets.size() != cardinalities_.size() || dim_ <= 0 ||
      host.rows >= Index{detail::kNoRow} || host.values == nullptr) {
    throw InvalidArgument("cuda::PepTable: " + std::to_string(host.offsets.size()) +
                          " field offsets for " + std::to_string(cardinalities_.size()) +
                          " fields, " + std::to_string(host.rows) +
                          " rows of d = " + std::to_string(dim_));
  }
  parts.rows = DeviceRows(host.rows, dim_, host.values, host.lr_scale);
  parts.offsets = DeviceArray<Index>::from(host.offsets);
  parts.pruning = host.pruning;
  parts.kind = host.threshold;
  if (!host.pruning) {
    const auto words = static_cast<std::size_t>((host.rows * dim_ + 63) / 64);
    if (host.mask.size() != words) {
      throw InvalidArgument("cuda::PepTable: a mask of " + std::to_string(host.mask.size()) +
                            " words for " + std::to_string(words));
    }
    parts.mask = DeviceArray<std::uint64_t>::from(host.mask);
    if (host.thresholds != nullptr) parts.retrain_threshold = host.thresholds[0];
    return;
  }
  const Index width =
      host.threshold == Threshold::entry || host.threshold == Threshold::column ? dim_ : 1;
  if (parts.per_row()) {
    parts.row_thresholds = DeviceRows(host.rows, width, host.thresholds, host.threshold_lr_scale);
  } else {
    detail::DenseParameter& t = parts.shared_threshold;
    t.name = "threshold";
    t.rows = 1;
    t.width = width;
    t.lr_scale = host.threshold_lr_scale;
    t.values = DeviceArray<float>::from({host.thresholds, static_cast<std::size_t>(width)});
    t.gradient = DeviceArray<float>(static_cast<std::size_t>(width));
  }
}

PepTable::PepTable(PepTable&&) noexcept = default;
PepTable& PepTable::operator=(PepTable&&) noexcept = default;
PepTable::~PepTable() = default;

bool PepTable::pruning() const {
  return parts_->pruning;
}

void PepTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const Parts& parts = *parts_;
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(
      ids.size() * dim_, detail::pep_lookup_kernel, batch, detail::PepRows{parts.offsets.data()},
      parts.rows.values.data(), dim_,
      detail::PepThresholds{parts.kind, dim_, parts.pruning ? parts.threshold_values() : nullptr},
      parts.pruning ? nullptr : parts.mask.data(), out);
  throw_on_flags(ids, dim_);
}

template <class Rule>
void PepTable::prune_update(const Rule& rule, float lr, std::uint64_t step, Index count,
                            const float* dE) {
  Parts& parts = *parts_;
  const unsigned long long* flags = this->flags();
  const auto n = static_cast<std::size_t>(count);
  const Index d = dim_;
  parts.gv.reserve(n * static_cast<std::size_t>(d));
  parts.gt.reserve(n * static_cast<std::size_t>(d));
  const detail::PepThresholds thresholds{parts.kind, d, parts.threshold_values()};
  // 1. Every gradient, from the rows and thresholds before the step.
  detail::launch(count * d, detail::pep_prune_gradients_kernel, parts.order.sorted_keys.data(),
                 parts.order.sorted_positions.data(), count, d, dE, parts.rows.values.data(),
                 thresholds, parts.gv.data(), parts.gt.data(), flags);
  if (parts.per_row()) {
    const Index width = parts.row_thresholds.width;
    parts.ds.reserve(n * static_cast<std::size_t>(width));
    detail::launch(count, detail::pep_row_threshold_kernel, parts.order.sorted_keys.data(), count,
                   d, width, static_cast<const float*>(parts.gt.data()), parts.ds.data(), flags);
  } else {
    for (auto* scratch : {&parts.first, &parts.sorted_first}) scratch->reserve(n);
    for (auto* scratch : {&parts.heads, &parts.ordered_heads}) scratch->reserve(n);
    detail::launch(count, detail::pep_first_positions_kernel, parts.order.sorted_keys.data(),
                   parts.order.sorted_positions.data(), count, parts.first.data(),
                   parts.heads.data());
    detail::sort_pairs(library_scratch_, parts.first.data(), parts.sorted_first.data(),
                       parts.heads.data(), parts.ordered_heads.data(), count, 32);
    detail::DenseParameter& t = parts.shared_threshold;
    detail::launch(t.width, detail::pep_shared_threshold_kernel, parts.sorted_first.data(),
                   parts.ordered_heads.data(), count, d, t.width,
                   static_cast<const float*>(parts.gt.data()), t.gradient.data(), flags);
  }
  // 2. The rows and the thresholds.
  detail::launch_buffered_apply(parts.order.sorted_keys.data(), count, d, parts.gv.data(),
                                parts.rows.values.data(), parts.rows.state.data(), rule,
                                rule.coefficients(lr * parts.rows.lr_scale, step), flags);
  if (parts.per_row()) {
    DeviceRows& t = parts.row_thresholds;
    detail::launch_buffered_apply(parts.order.sorted_keys.data(), count, t.width, parts.ds.data(),
                                  t.values.data(), t.state.data(), rule,
                                  rule.coefficients(lr * t.lr_scale, step), flags);
  }
}

void PepTable::train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  Parts& parts = *parts_;
  const Index count = ids.size();
  parts.order.reserve(count);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::pep_rows_kernel, batch, detail::PepRows{parts.offsets.data()}, dE,
                 dim_, parts.order.keys.data(), parts.order.positions.data(), &flags()[1]);
  detail::sort_positions(parts.order, library_scratch_, count);
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    if (parts.pruning) {
      prune_update(rule, optimizer.learning_rate, step, count, dE);
      return;
    }
    const detail::MaskedContribution masked{dE, dim_, parts.order.keys.data(), parts.mask.data()};
    detail::launch_runs_update(
        parts.order.sorted_keys.data(), parts.order.sorted_positions.data(), count, dim_, masked,
        parts.rows.values.data(), parts.rows.state.data(), rule,
        rule.coefficients(optimizer.learning_rate * parts.rows.lr_scale, step), parts.row_gradients,
        flags());
  });
  throw_on_flags(ids, dim_);
  // A shared threshold is a dense parameter: stepped once the checks have passed.
  if (parts.pruning && !parts.per_row())
    detail::dense_step(parts.shared_threshold, optimizer, step);
  steps_ = step;
}

std::vector<float> PepTable::rows_to_host(const std::string& parameter) const {
  const Parts& parts = *parts_;
  if (parameter == "rows") return parts.rows.values.to_host();
  if (parameter == "threshold") {
    if (!parts.pruning) return {parts.retrain_threshold};
    return parts.per_row() ? parts.row_thresholds.values.to_host()
                           : parts.shared_threshold.values.to_host();
  }
  throw InvalidArgument("cuda::PepTable: no parameter '" + parameter + "' (rows, threshold)");
}

DeviceTable::StateSpan PepTable::state_span(const std::string& parameter) const {
  const Parts& parts = *parts_;
  if (parameter == "rows") return span_of(parts.rows.state, parts.rows.state_slots);
  if (parameter == "threshold") {
    if (!parts.pruning) return {};  // never stepped
    return parts.per_row()
               ? span_of(parts.row_thresholds.state, parts.row_thresholds.state_slots)
               : span_of(parts.shared_threshold.state, parts.shared_threshold.state_slots);
  }
  throw InvalidArgument("cuda::PepTable: no parameter '" + parameter + "' (rows, threshold)");
}

void PepTable::ensure_state(const DeviceOptimizer& optimizer) {
  Parts& parts = *parts_;
  const std::string owner = "cuda::PepTable (" + method_ + ")";
  parts.rows.ensure_state(optimizer, owner, true);
  if (!parts.pruning) return;
  if (parts.per_row()) {
    parts.row_thresholds.ensure_state(optimizer, owner, true);
  } else {
    detail::ensure_dense_state(parts.shared_threshold, optimizer, owner);
  }
}

}  // namespace embcomp::cuda
