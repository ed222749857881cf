// MdeTable (cuda/include/embcomp/cuda/mde_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/mde_table.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/mde.hpp"
#include "field_rows.cuh"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// Sort keys by position: the stacked row of the position's id (kNoRow for a bad id, which is
/// recorded). dE row p is checked too.
EMBCOMP_KERNEL void mde_rows_kernel(BatchIds batch, const FieldLayout* layout, const float* dE,
                                    Index d, RowKey* keys, Position* positions,
                                    unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index id = batch.checked_id(p);
    keys[p] = id < 0 ? kNoRow : static_cast<RowKey>(layout[p % batch.fields].row_base + id);
  }
}

/// One thread per output element (p, j): E_f[id] P_f + b_f, E_f[id] P_f without a bias, or
/// E_f[id] without a projection.
EMBCOMP_KERNEL void mde_lookup_kernel(BatchIds batch, const FieldLayout* layout, Index d,
                                      const float* values, const float* projections,
                                      const float* biases, float* out) {
  for (Index i = thread_index(); i < batch.count * d; i += thread_count()) {
    const Index p = i / d;
    const Index j = i - p * d;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const FieldLayout& f = layout[p % batch.fields];
    const float* row = values + f.value_offset + id * f.dim;
    if (f.projection_offset < 0) {
      out[i] = row[j];
      continue;
    }
    const float projected =
        kernels::mde_project_element(row, f.dim, projections + f.projection_offset, d, j);
    out[i] = f.bias_offset < 0 ? projected : projected + biases[f.bias_offset + j];
  }
}

/// The field whose projection holds flat element e of the projections.
EMBCOMP_DEVICE Index projection_field(const FieldLayout* layout, Index fields, Index d, Index e) {
  Index f = 0;
  while (f + 1 < fields &&
         (layout[f].projection_offset < 0 || e >= layout[f].projection_offset + layout[f].dim * d))
    ++f;
  return f;
}

/// One thread per projection element (f, i, j): dP_f[i][j] = the sum over samples b, ascending,
/// of E_f[x_bf][i] dE[b*F+f][j] (the rows before the step).
EMBCOMP_KERNEL void mde_projection_gradient_kernel(const Index* ids, Index batch, Index fields,
                                                   const FieldLayout* layout, Index d, Index size,
                                                   const float* values, const float* dE,
                                                   float* gradients,
                                                   const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index e = thread_index(); e < size; e += thread_count()) {
    const Index f = projection_field(layout, fields, d, e);
    const FieldLayout& field = layout[f];
    const Index i = (e - field.projection_offset) / d;
    const Index j = e - field.projection_offset - i * d;
    float sum = 0.0f;
    for (Index b = 0; b < batch; ++b) {
      const Index p = b * fields + f;
      sum += values[field.value_offset + ids[p] * field.dim + i] * dE[p * d + j];
    }
    gradients[e] = sum;
  }
}

/// One thread per (field f, column j) of a field with a bias: db_f[j] = the sum over samples b,
/// ascending, of dE[b*F+f][j].
EMBCOMP_KERNEL void mde_bias_gradient_kernel(Index batch, Index fields, const FieldLayout* layout,
                                             Index d, const float* dE, float* gradients,
                                             const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index i = thread_index(); i < fields * d; i += thread_count()) {
    const Index f = i / d;
    const Index j = i - f * d;
    if (layout[f].bias_offset < 0) continue;
    float sum = 0.0f;
    for (Index b = 0; b < batch; ++b) sum += dE[(b * fields + f) * d + j];
    gradients[layout[f].bias_offset + j] = sum;
  }
}

/// The rule over every bias element (f, j) with its buffered gradient; b_f's state is
/// [1 x slots*D] at slots times its offset.
template <class Rule>
EMBCOMP_KERNEL void mde_apply_biases_kernel(const FieldLayout* layout, Index fields, Index d,
                                            const float* gradients, float* biases, float* state,
                                            Rule rule, typename Rule::Coefficients k,
                                            const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index i = thread_index(); i < fields * d; i += thread_count()) {
    const Index f = i / d;
    const Index j = i - f * d;
    const Index offset = layout[f].bias_offset;
    if (offset < 0) continue;
    rule.update_element(biases[offset + j], gradients[offset + j],
                        kernels::element_state<Rule>(state, Rule::kSlots * offset + j), d, k);
  }
}

/// The rule over every projection element with its buffered gradient; the state of P_f is
/// [d_f x slots*D] at slots times its offset (the CPU's layout for a dense parameter).
template <class Rule>
EMBCOMP_KERNEL void mde_apply_projections_kernel(const FieldLayout* layout, Index fields, Index d,
                                                 Index size, const float* gradients,
                                                 float* projections, float* state, Rule rule,
                                                 typename Rule::Coefficients k,
                                                 const unsigned long long* flags) {
  if (input_refused(flags)) return;
  for (Index e = thread_index(); e < size; e += thread_count()) {
    const FieldLayout& f = layout[projection_field(layout, fields, d, e)];
    const Index i = (e - f.projection_offset) / d;
    const Index j = e - f.projection_offset - i * d;
    const Index state_offset = Rule::kSlots * (f.projection_offset + i * d) + j;
    rule.update_element(projections[e], gradients[e],
                        kernels::element_state<Rule>(state, state_offset), d, k);
  }
}

}  // namespace detail

namespace {

/// The flat layout of `host`'s fields, checked.
std::vector<FieldLayout> layout_of(const MdeTable::HostTables& host) {
  if (host.dim <= 0 || host.fields.empty()) {
    throw InvalidArgument("cuda::MdeTable: " + std::to_string(host.fields.size()) +
                          " fields of output width " + std::to_string(host.dim));
  }
  std::vector<FieldLayout> layout;
  Index rows = 0, values = 0, projections = 0, biases = 0;
  for (const MdeTable::HostField& field : host.fields) {
    const bool projected = field.projection != nullptr, biased = field.bias != nullptr;
    if (field.rows <= 0 || field.dim < 1 || field.dim > host.dim || field.values == nullptr ||
        (field.dim < host.dim && !projected) || (biased && !projected)) {
      throw InvalidArgument("cuda::MdeTable: a field of " + std::to_string(field.rows) +
                            " rows of width " + std::to_string(field.dim) + " (in [1, " +
                            std::to_string(host.dim) +
                            "], with its values, a projection where narrower, a bias only with "
                            "a projection)");
    }
    layout.push_back({field.dim, rows, values, projected ? projections : -1, biased ? biases : -1});
    rows += field.rows;
    values += field.rows * field.dim;
    if (projected) projections += field.dim * host.dim;
    if (biased) biases += host.dim;
  }
  if (rows >= Index{detail::kNoRow}) {
    throw InvalidArgument("cuda::MdeTable: " + std::to_string(rows) +
                          " rows in all (below 2^32 - 1)");
  }
  return layout;
}

}  // namespace

MdeTable::MdeTable(std::string method, const HostTables& host)
    : DeviceTable(std::move(method),
                  [&] {
                    std::vector<Index> cardinalities;
                    for (const HostField& field : host.fields) cardinalities.push_back(field.rows);
                    return cardinalities;
                  }()),
      dim_(host.dim),
      stacked_names_(host.stacked_names),
      untrained_(host.untrained),
      layout_(layout_of(host)) {
  if (!stacked_names_.empty() &&
      std::any_of(layout_.begin(), layout_.end(), [&](const FieldLayout& f) {
        return f.dim != layout_.front().dim || f.projection_offset < 0 || f.bias_offset < 0;
      })) {
    throw InvalidArgument("cuda::MdeTable: stacked names ('" + stacked_names_ +
                          "') need every field at one width, with a projection and a bias");
  }
  device_layout_ = DeviceArray<FieldLayout>::from(layout_);
  std::vector<float> values, projections, biases;
  for (const HostField& field : host.fields) {
    values.insert(values.end(), field.values, field.values + field.rows * field.dim);
    if (field.projection != nullptr) {
      projections.insert(projections.end(), field.projection,
                         field.projection + field.dim * dim_);
    }
    if (field.bias != nullptr) biases.insert(biases.end(), field.bias, field.bias + dim_);
  }
  rows_.values = DeviceArray<float>::from(values);
  rows_.lr_scale = host.rows_lr_scale;
  projections_.values = DeviceArray<float>::from(projections);
  projections_.lr_scale = host.projection_lr_scale;
  biases_.values = DeviceArray<float>::from(biases);
  biases_.lr_scale = host.bias_lr_scale;
}

void MdeTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(ids.size() * dim_, detail::mde_lookup_kernel, batch, device_layout_.data(), dim_,
                 rows_.values.data(), projections_.values.data(), biases_.values.data(), out);
  throw_on_flags(ids, dim_);
}

template <class Rule>
void MdeTable::update(const Rule& rule, float lr, std::uint64_t step, const DeviceIds& ids,
                      const float* dE) {
  const unsigned long long* flags = this->flags();
  const auto projection_size = static_cast<Index>(projections_.values.size());
  // 1. The projections' gradients, from the rows before the step, and the biases'.
  projection_gradients_.reserve(projections_.values.size());
  detail::launch(projection_size, detail::mde_projection_gradient_kernel, ids.ids, ids.batch,
                 ids.fields, device_layout_.data(), dim_, projection_size, rows_.values.data(), dE,
                 projection_gradients_.data(), flags);
  const bool any_bias = biases_.values.size() > 0;
  if (any_bias) {
    bias_gradients_.reserve(biases_.values.size());
    detail::launch(ids.fields * dim_, detail::mde_bias_gradient_kernel, ids.batch, ids.fields,
                   device_layout_.data(), dim_, dE, bias_gradients_.data(), flags);
  }
  // 2. The rows, fused (a row rule: buffered, then by row): their gradients read the
  //    projections, not yet updated.
  detail::launch_field_rows_update(
      order_.sorted_keys.data(), order_.sorted_positions.data(), ids.size(), ids.fields,
      device_layout_.data(), dim_, dE, projections_.values.data(), rows_.values.data(),
      rows_.state.data(), rule, rule.coefficients(lr * rows_.lr_scale, step), row_gradients_,
      flags);
  // 3. The projections.
  detail::launch(projection_size, detail::mde_apply_projections_kernel<Rule>,
                 device_layout_.data(), ids.fields, dim_, projection_size,
                 projection_gradients_.data(), projections_.values.data(),
                 projections_.state.data(), rule,
                 rule.coefficients(lr * projections_.lr_scale, step), flags);
  if (any_bias) {
    detail::launch(ids.fields * dim_, detail::mde_apply_biases_kernel<Rule>, device_layout_.data(),
                   ids.fields, dim_, static_cast<const float*>(bias_gradients_.data()),
                   biases_.values.data(), biases_.state.data(), rule,
                   rule.coefficients(lr * biases_.lr_scale, step), flags);
  }
}

void MdeTable::train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  const Index count = ids.size();
  order_.reserve(count);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::mde_rows_kernel, batch, device_layout_.data(), dE, dim_,
                 order_.keys.data(), order_.positions.data(), &flags()[1]);
  // Every bit: kNoRow must sort after every row.
  detail::sort_positions(order_, library_scratch_, count);
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    update(rule, optimizer.learning_rate, step, ids, dE);
  });
  throw_on_flags(ids, dim_);
  steps_ = step;
}

MdeTable::Slice MdeTable::slice(const std::string& parameter) const {
  if (!stacked_names_.empty()) {
    const auto whole = [](const FlatParameter& flat) {
      return Slice{&flat, 0, static_cast<Index>(flat.values.size())};
    };
    if (parameter == stacked_names_ + ".rows")
      return {&rows_, 0, whole(rows_).size, 0, total_rows()};
    if (parameter == stacked_names_ + ".weight" && projected(0)) return whole(projections_);
    if (parameter == stacked_names_ + ".bias" && biased(0)) return whole(biases_);
    throw InvalidArgument("cuda::MdeTable: no parameter '" + parameter + "' (" + stacked_names_ +
                          ".rows, .weight and .bias)");
  }
  const auto dot = parameter.find('.');
  const std::string prefix = parameter.substr(0, dot == std::string::npos ? 0 : dot);
  const std::string kind = dot == std::string::npos ? "" : parameter.substr(dot + 1);
  Index f = -1;
  if (prefix.size() > 5 && prefix.starts_with("field") &&
      prefix.find_first_not_of("0123456789", 5) == std::string::npos) {
    f = std::stoll(prefix.substr(5));
  }
  if (f >= 0 && f < fields()) {
    const FieldLayout& field = layout_[static_cast<std::size_t>(f)];
    if (kind == "rows") {
      return {&rows_, field.value_offset, cardinalities_[f] * field.dim, field.row_base,
              cardinalities_[f]};
    }
    if (kind == "projection" && field.projection_offset >= 0) {
      return {&projections_, field.projection_offset, field.dim * dim_};
    }
    if (kind == "bias" && field.bias_offset >= 0) return {&biases_, field.bias_offset, dim_};
  }
  throw InvalidArgument("cuda::MdeTable: no parameter '" + parameter +
                        "' (field<f>.rows, and field<f>.projection and .bias where the field has "
                        "them)");
}

std::vector<float> MdeTable::rows_to_host(const std::string& parameter) const {
  if (const std::vector<float>* values = untrained_.find(parameter)) return *values;
  const Slice s = slice(parameter);
  const std::vector<float> all = s.flat->values.to_host();
  return {all.begin() + s.offset, all.begin() + s.offset + s.size};
}

void MdeTable::ensure_state(const DeviceOptimizer& optimizer) {
  const std::string owner = "cuda::MdeTable (" + method_ + ")";
  // Row-wise Adagrad: the rows by row ([slots] per stacked row), the projections (dense) by
  // element, as the CPU steps a dense parameter; so every projection element counts as a row.
  ensure_optimizer_state(rows_.state, rows_.state_slots, rows_.values.size(), optimizer, owner,
                         static_cast<std::size_t>(total_rows()));
  for (FlatParameter* dense : {&projections_, &biases_}) {
    if (dense->values.size() == 0) continue;  // mde: no projection where every field is at D
    ensure_optimizer_state(dense->state, dense->state_slots, dense->values.size(), optimizer, owner,
                           dense->values.size());
  }
  rows_by_row_ = optimizer.row_wise();
}

DeviceTable::StateSpan MdeTable::state_span(const std::string& parameter) const {
  if (untrained_.find(parameter) != nullptr) return {};  // never stepped
  const Slice s = slice(parameter);
  const int slots = s.flat->state_slots;
  // In state units: the slice's values, or its rows where the rows' state is by row.
  const bool by_row = s.flat == &rows_ && rows_by_row_;
  const Index first = by_row ? s.row_base : s.offset, units = by_row ? s.rows : s.size;
  return span_of(s.flat->state, slots, static_cast<std::size_t>(slots * first),
                 static_cast<std::size_t>(slots * units));
}

}  // namespace embcomp::cuda
