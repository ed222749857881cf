// The kernels every CUDA table's training step is built from: checked ids, the dE check, and
// the fused sparse update over runs of equal rows (after the rows are sorted, primitives.cuh).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <utility>

#include "backend.cuh"
#include "embcomp/cuda/device_table.hpp"
#include "primitives.cuh"

namespace embcomp::cuda::detail {

inline constexpr unsigned long long kNone = ~0ULL;
/// The sort key of a position that does not read a parameter (it sorts last and is skipped).
inline constexpr RowKey kNoRow = ~RowKey{0};

/// A batch's ids and their fields' sizes; the first position holding an id outside its field's
/// range is recorded.
struct BatchIds {
  const Index* ids;
  Index count;
  Index fields;
  const Index* field_sizes;
  unsigned long long* bad_id_position;

  /// ids[p], or -1 (recorded) for an id outside its field's range.
  EMBCOMP_DEVICE Index checked_id(Index p) const {
    const Index id = ids[p];
    if (id < 0 || id >= field_sizes[p % fields]) {
      atomicMin(bad_id_position, static_cast<unsigned long long>(p));
      return -1;
    }
    return id;
  }
};

/// Records the first index of a NaN or Inf in dE row p (of `width`).
EMBCOMP_DEVICE void check_finite_row(const float* dE, Index p, Index width,
                                     unsigned long long* bad_value_index) {
  for (Index c = 0; c < width; ++c) {
    if (!is_finite(dE[p * width + c])) {
      atomicMin(bad_value_index, static_cast<unsigned long long>(p * width + c));
      return;
    }
  }
}

/// The contribution of position p to column c of its row's gradient: dE[p][c] (a gather).
struct GatherContribution {
  const float* dE;
  Index width;
  EMBCOMP_DEVICE float operator()(Position p, Index c) const { return dE[p * width + c]; }
};

/// True when sorted position `head` starts a run of equal keys.
EMBCOMP_DEVICE bool starts_run(const RowKey* sorted_rows, Index head) {
  return head == 0 || sorted_rows[head - 1] != sorted_rows[head];
}

/// The gradient of column c of the run starting at sorted position `head`: contribution(p, c)
/// summed over the run's positions, which the stable sort left in ascending order (the CPU's
/// order, so the same sum bit for bit).
template <class Contribution>
EMBCOMP_DEVICE float run_gradient(const RowKey* sorted_rows, const Position* sorted_positions,
                                  Index count, Index head, Index c,
                                  const Contribution& contribution) {
  const RowKey key = sorted_rows[head];
  float g = 0.0f;
  for (Index j = head; j < count && sorted_rows[j] == key; ++j)
    g += contribution(sorted_positions[j], c);
  return g;
}

/// True when the step's checks recorded bad input (its kernels then change nothing).
EMBCOMP_DEVICE bool input_refused(const unsigned long long* flags) {
  return flags[0] != kNone || flags[1] != kNone;
}

/// A run's gradient as its sum leaves it (most twins; autosrh scales the sum by its weights).
struct AsSummed {
  EMBCOMP_DEVICE float operator()(RowKey /*row*/, Index /*c*/, float g) const { return g; }
};

/// One thread per (sorted position i, column c < width); the thread at the head of a run of
/// equal keys (kNoRow runs are skipped) takes the run's gradient (run_gradient), then
/// finish(row, c, it). Then, without `buffered`, the rule updates values[row][c] and its state
/// at once; with it, the gradient is written to buffered[i][c] for apply_buffered_kernel (a
/// parameter whose gradient reads another parameter that this step updates first). Does nothing
/// when the step's checks recorded bad input.
template <class Rule, class Contribution, class Finish = AsSummed>
EMBCOMP_KERNEL void update_runs_kernel(const RowKey* sorted_rows, const Position* sorted_positions,
                                       Index count, Index width, Contribution contribution,
                                       float* values, float* state, Rule rule,
                                       typename Rule::Coefficients k, float* buffered,
                                       const unsigned long long* flags, Finish finish) {
  if (input_refused(flags)) return;
  const Index state_width = Rule::kSlots * width;
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index head = i / width;
    const RowKey key = sorted_rows[head];
    if (key == kNoRow) return;  // the rest sorts after it
    if (!starts_run(sorted_rows, head)) continue;
    const Index c = i - head * width;
    const float g =
        finish(key, c, run_gradient(sorted_rows, sorted_positions, count, head, c, contribution));
    if (buffered != nullptr) {
      buffered[i] = g;
      continue;
    }
    const auto row = static_cast<Index>(key);
    rule.update_element(values[row * width + c], g,
                        kernels::element_state<Rule>(state, row * state_width + c), width, k);
  }
}

/// The rule applied with the gradients update_runs_kernel buffered, one thread per (sorted
/// position, column); only run heads hold one.
template <class Rule>
EMBCOMP_KERNEL void apply_buffered_kernel(const RowKey* sorted_rows, Index count, Index width,
                                          const float* buffered, float* values, float* state,
                                          Rule rule, typename Rule::Coefficients k,
                                          const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index state_width = Rule::kSlots * width;
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index head = i / width;
    const RowKey key = sorted_rows[head];
    if (key == kNoRow) return;
    if (!starts_run(sorted_rows, head)) continue;
    const auto row = static_cast<Index>(key);
    const Index c = i - head * width;
    rule.update_element(values[row * width + c], buffered[i],
                        kernels::element_state<Rule>(state, row * state_width + c), width, k);
  }
}

/// Rows of one width: row r is values[r * width, (r + 1) * width).
struct UniformRows {
  float* values;
  Index width;
  EMBCOMP_DEVICE float* row(Index /*head*/, Index r) const { return values + r * width; }
  EMBCOMP_DEVICE Index width_of(Index /*head*/) const { return width; }
};

/// A row rule (kRowWise) applied with the gradients update_runs_kernel buffered (`stride` floats
/// per sorted position), one thread per sorted position: a run head updates its whole row
/// (rule.update_row over buffered[head]), found by `rows` (UniformRows, or a twin's rows of
/// several widths); the state is [slots] per row key.
template <class Rule, class Rows>
EMBCOMP_KERNEL void apply_buffered_rows_kernel(const RowKey* sorted_rows, Index count, Index stride,
                                               const float* buffered, Rows rows, float* state,
                                               Rule rule, typename Rule::Coefficients k,
                                               const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index head = thread_index(); head < count; head += thread_count()) {
    const RowKey key = sorted_rows[head];
    if (key == kNoRow) return;
    if (!starts_run(sorted_rows, head)) continue;
    const auto row = static_cast<Index>(key);
    rule.update_row(rows.row(head, row), buffered + head * stride, state + row * Rule::kSlots,
                    rows.width_of(head), k);
  }
}

/// One parameter's update from its sorted runs (update_runs_kernel's contribution and finish):
/// an element rule fused in one kernel; a row rule (kRowWise) in two, every run's gradient into
/// `buffer` ([count x width], grown as needed) and then each run's row at once, as the CPU's
/// RowwiseOptimizer does.
template <class Rule, class Contribution, class Finish = AsSummed>
void launch_runs_update(const RowKey* sorted_rows, const Position* sorted_positions, Index count,
                        Index width, const Contribution& contribution, float* values, float* state,
                        const Rule& rule, const typename Rule::Coefficients& k,
                        DeviceArray<float>& buffer, const unsigned long long* flags,
                        const Finish& finish = {}) {
  float* buffered = nullptr;
  if constexpr (Rule::kRowWise) {
    buffer.reserve(static_cast<std::size_t>(count * width));
    buffered = buffer.data();
  }
  launch(count * width, update_runs_kernel<Rule, Contribution, Finish>, sorted_rows,
         sorted_positions, count, width, contribution, values, state, rule, k, buffered, flags,
         finish);
  if constexpr (Rule::kRowWise) {
    launch(count, apply_buffered_rows_kernel<Rule, UniformRows>, sorted_rows, count, width,
           static_cast<const float*>(buffered), UniformRows{values, width}, state, rule, k, flags);
  }
}

/// The rule applied with gradients update_runs_kernel buffered: per element, or per row for a
/// row rule.
template <class Rule>
void launch_buffered_apply(const RowKey* sorted_rows, Index count, Index width,
                           const float* buffered, float* values, float* state, const Rule& rule,
                           const typename Rule::Coefficients& k, const unsigned long long* flags) {
  if constexpr (Rule::kRowWise) {
    launch(count, apply_buffered_rows_kernel<Rule, UniformRows>, sorted_rows, count, width,
           buffered, UniformRows{values, width}, state, rule, k, flags);
  } else {
    launch(count * width, apply_buffered_kernel<Rule>, sorted_rows, count, width, buffered, values,
           state, rule, k, flags);
  }
}

/// fn(rule) with the element rule of `optimizer` (a row-wise optimizer, which no twin reaches
/// here: ensure_optimizer_state refused it, or the twin took its row form, is a logic error).
template <class Fn>
void with_rule(const DeviceOptimizer& optimizer, Fn&& fn) {
  switch (optimizer.kind) {
    case DeviceOptimizer::Kind::sgd:
      fn(kernels::SgdRule{});
      return;
    case DeviceOptimizer::Kind::adagrad:
      fn(optimizer.adagrad);
      return;
    case DeviceOptimizer::Kind::adam:
      fn(optimizer.adam);
      return;
    case DeviceOptimizer::Kind::rowwise_adagrad:
      throw std::logic_error("cuda: with_rule reached by row-wise Adagrad, which has a row form");
  }
}

/// fn(rule) with the rule of `optimizer`, row-wise Adagrad's included: for a twin whose updates
/// go through launch_runs_update and launch_buffered_apply (and which asked ensure_optimizer_state
/// for the row form).
template <class Fn>
void with_any_rule(const DeviceOptimizer& optimizer, Fn&& fn) {
  if (optimizer.row_wise()) {
    fn(optimizer.rowwise_adagrad);
    return;
  }
  with_rule(optimizer, std::forward<Fn>(fn));
}

/// Bits needed to write `value` (at least 1).
inline int bit_width_of(Index value) {
  int bits = 1;
  while (bits < 63 && (value >> bits) != 0) ++bits;
  return bits;
}

}  // namespace embcomp::cuda::detail
