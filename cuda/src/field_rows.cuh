// The training step of rows of per-field widths (embcomp/cuda/field_layout.hpp): mde's rows,
// whose gradient is dE P_fᵀ, and optembed's kept rows, whose gradient is the first d_f entries of
// dE. Positions are sorted by stacked row first (primitives.cuh).
#pragma once

#include "backend.cuh"
#include "embcomp/cuda/field_layout.hpp"
#include "embcomp/kernels/mde.hpp"
#include "sparse_update.cuh"

namespace embcomp::cuda::detail {

/// dL/dE_f[row][c] of position p: (dE[p] P_fᵀ)[c], or dE[p][c] without a projection.
struct FieldRowContribution {
  const float* dE;
  Index d;
  const float* projection;  ///< P_f [d_f x D], or null
  EMBCOMP_DEVICE float operator()(Position p, Index c) const {
    const float* g = dE + static_cast<Index>(p) * d;
    return projection == nullptr ? g[c] : kernels::mde_project_back_element(projection, d, g, c);
  }
};

/// update_runs_kernel for rows of per-field widths: one thread per (sorted position, column
/// c < D); the head of a run of field f's row updates its columns c < d_f (the rest idle), or,
/// with `buffered` ([count x D]), writes their gradients there for apply_buffered_rows_kernel.
/// `projections` is null where no field has one.
template <class Rule>
EMBCOMP_KERNEL void field_update_rows_kernel(const RowKey* sorted_rows,
                                             const Position* sorted_positions, Index count,
                                             Index fields, const FieldLayout* layout, Index d,
                                             const float* dE, const float* projections,
                                             float* values, float* state, Rule rule,
                                             typename Rule::Coefficients k, float* buffered,
                                             const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    const Index head = i / d;
    const RowKey key = sorted_rows[head];
    if (key == kNoRow) return;  // the rest sorts after it
    if (!starts_run(sorted_rows, head)) continue;
    const FieldLayout& f = layout[sorted_positions[head] % fields];
    const Index c = i - head * d;
    if (c >= f.dim) continue;
    const FieldRowContribution contribution{
        dE, d, f.projection_offset < 0 ? nullptr : projections + f.projection_offset};
    const float g = run_gradient(sorted_rows, sorted_positions, count, head, c, contribution);
    if (buffered != nullptr) {
      buffered[i] = g;
      continue;
    }
    const Index row = static_cast<Index>(key) - f.row_base;
    const Index state_offset = Rule::kSlots * (f.value_offset + row * f.dim) + c;
    rule.update_element(values[f.value_offset + row * f.dim + c], g,
                        kernels::element_state<Rule>(state, state_offset), f.dim, k);
  }
}

/// The rows of a run head in the flat buffer, for apply_buffered_rows_kernel: field f's row
/// (f from the head's position) at its value offset, d_f wide; the state is [slots] per stacked
/// row (the CPU's per-field [rows_f x slots] states one after another).
struct FieldRows {
  float* values;
  const FieldLayout* layout;
  Index fields;
  const Position* sorted_positions;
  EMBCOMP_DEVICE const FieldLayout& field(Index head) const {
    return layout[sorted_positions[head] % fields];
  }
  EMBCOMP_DEVICE float* row(Index head, Index stacked_row) const {
    const FieldLayout& f = field(head);
    return values + f.value_offset + (stacked_row - f.row_base) * f.dim;
  }
  EMBCOMP_DEVICE Index width_of(Index head) const { return field(head).dim; }
};

/// The rows' step for a batch of `count` positions sorted by stacked row: an element rule fused
/// in one kernel; a row rule in two, every run's gradient into `buffer` ([count x D], grown as
/// needed) and then each run's row at once. The state is [rows x slots*d_f] per field, or
/// [slots] per stacked row for a row rule.
template <class Rule>
void launch_field_rows_update(const RowKey* sorted_rows, const Position* sorted_positions,
                              Index count, Index fields, const FieldLayout* layout, Index d,
                              const float* dE, const float* projections, float* values,
                              float* state, const Rule& rule, const typename Rule::Coefficients& k,
                              DeviceArray<float>& buffer, const unsigned long long* flags) {
  float* buffered = nullptr;
  if constexpr (Rule::kRowWise) {
    buffer.reserve(static_cast<std::size_t>(count * d));
    buffered = buffer.data();
  }
  launch(count * d, field_update_rows_kernel<Rule>, sorted_rows, sorted_positions, count, fields,
         layout, d, dE, projections, values, state, rule, k, buffered, flags);
  if constexpr (Rule::kRowWise) {
    launch(count, apply_buffered_rows_kernel<Rule, FieldRows>, sorted_rows, count, d,
           static_cast<const float*>(buffered), FieldRows{values, layout, fields, sorted_positions},
           state, rule, k, flags);
  }
}

}  // namespace embcomp::cuda::detail
