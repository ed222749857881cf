// KeptRowsTable (cuda/include/embcomp/cuda/kept_rows_table.hpp): the kernels and their driver.
// The same source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/kept_rows_table.hpp"

#include <string>
#include <utility>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "field_rows.cuh"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// Where the kept rows are: every field's layout and kept set, and the sets' arrays.
struct KeptRouting {
  const FieldLayout* layout;
  const kernels::HotRows* hot;
  kernels::HotSets sets;

  /// The stacked row of id `id` of field f, or -1 where the id is pruned.
  EMBCOMP_DEVICE Index row(Index f, Index id) const {
    const kernels::HotRank at = kernels::hot_rank(hot[f], sets, id);
    return at.hot ? layout[f].row_base + static_cast<Index>(at.rank) : -1;
  }
};

/// One thread per output element (p, c): the kept row's entry c where c < w_f, else 0.
EMBCOMP_KERNEL void kept_rows_lookup_kernel(BatchIds batch, KeptRouting routing, Index d,
                                            const float* values, float* out) {
  for (Index i = thread_index(); i < batch.count * d; i += thread_count()) {
    const Index p = i / d;
    const Index c = i - p * d;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const Index f = p % batch.fields;
    const FieldLayout& field = routing.layout[f];
    const Index row = routing.row(f, id);
    out[i] = row >= 0 && c < field.dim
                 ? values[field.value_offset + (row - field.row_base) * field.dim + c]
                 : 0.0f;
  }
}

/// Sort keys by position: the kept row of the position's id, kNoRow for a pruned id (no
/// gradient) or a bad one (recorded). dE row p is checked too.
EMBCOMP_KERNEL void kept_rows_keys_kernel(BatchIds batch, KeptRouting routing, const float* dE,
                                          Index d, RowKey* keys, Position* positions,
                                          unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index id = batch.checked_id(p);
    const Index row = id < 0 ? -1 : routing.row(p % batch.fields, id);
    keys[p] = row < 0 ? kNoRow : static_cast<RowKey>(row);
  }
}

}  // namespace detail

KeptRowsTable::KeptRowsTable(std::string method, std::vector<Index> cardinalities,
                             const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      lr_scale_(host.lr_scale),
      untrained_(host.untrained) {
  if (host.fields.size() != cardinalities_.size() || dim_ <= 0) {
    throw InvalidArgument("cuda::KeptRowsTable: " + std::to_string(host.fields.size()) +
                          " kept fields for " + std::to_string(cardinalities_.size()) +
                          " fields of d = " + std::to_string(dim_));
  }
  std::vector<kernels::HotRows> hot;
  std::vector<float> values;
  Index rows = 0;
  for (std::size_t f = 0; f < host.fields.size(); ++f) {
    const HostField& field = host.fields[f];
    if (field.width < 1 || field.width > dim_ || field.kept < 0 || field.kept > cardinalities_[f] ||
        field.values == nullptr) {
      throw InvalidArgument("cuda::KeptRowsTable: field " + std::to_string(f) + " keeps " +
                            std::to_string(field.kept) + " of " +
                            std::to_string(cardinalities_[f]) + " ids at width " +
                            std::to_string(field.width) + " (in [1, " + std::to_string(dim_) +
                            "], with its rows)");
    }
    const Index stored = std::max<Index>(field.kept, 1);
    layout_.push_back({field.width, rows, static_cast<Index>(values.size()), -1});
    hot.push_back({field.kept, 0, field.set, field.set_offset});
    values.insert(values.end(), field.values, field.values + stored * field.width);
    rows += stored;
  }
  total_rows_ = rows;
  if (rows >= Index{detail::kNoRow}) {
    throw InvalidArgument("cuda::KeptRowsTable: " + std::to_string(rows) +
                          " rows in all (below 2^32 - 1)");
  }
  device_layout_ = DeviceArray<FieldLayout>::from(layout_);
  hot_ = DeviceArray<kernels::HotRows>::from(hot);
  set_ids_ = DeviceArray<std::uint32_t>::from(host.set_ids);
  set_words_ = DeviceArray<std::uint64_t>::from(host.set_words);
  set_ranks_ = DeviceArray<std::uint32_t>::from(host.set_ranks);
  values_ = DeviceArray<float>::from(values);
}

Index KeptRowsTable::stored_rows(Index f) const {
  const auto next = static_cast<std::size_t>(f + 1);
  return (next < layout_.size() ? layout_[next].row_base : total_rows_) -
         layout_[static_cast<std::size_t>(f)].row_base;
}

void KeptRowsTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  const detail::KeptRouting routing{
      device_layout_.data(), hot_.data(), {set_ids_.data(), set_words_.data(), set_ranks_.data()}};
  detail::launch(ids.size() * dim_, detail::kept_rows_lookup_kernel, batch, routing, dim_,
                 values_.data(), out);
  throw_on_flags(ids, dim_);
}

void KeptRowsTable::train_step(const DeviceIds& ids, const float* dE,
                               const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  const Index count = ids.size();
  order_.reserve(count);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  const detail::KeptRouting routing{
      device_layout_.data(), hot_.data(), {set_ids_.data(), set_words_.data(), set_ranks_.data()}};
  detail::launch(count, detail::kept_rows_keys_kernel, batch, routing, dE, dim_, order_.keys.data(),
                 order_.positions.data(), &flags()[1]);
  // Every bit: kNoRow must sort after every row.
  detail::sort_positions(order_, library_scratch_, count);
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    detail::launch_field_rows_update(
        order_.sorted_keys.data(), order_.sorted_positions.data(), count, ids.fields,
        device_layout_.data(), dim_, dE, static_cast<const float*>(nullptr), values_.data(),
        state_.data(), rule, rule.coefficients(optimizer.learning_rate * lr_scale_, step),
        row_gradients_, flags());
  });
  throw_on_flags(ids, dim_);
  steps_ = step;
}

Index KeptRowsTable::field_of(const std::string& parameter) const {
  const std::string prefix = "field", suffix = ".rows";
  if (!parameter.starts_with(prefix) || !parameter.ends_with(suffix) ||
      parameter.size() <= prefix.size() + suffix.size()) {
    return -1;
  }
  const std::string digits =
      parameter.substr(prefix.size(), parameter.size() - prefix.size() - suffix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return -1;
  const Index f = std::stoll(digits);
  return f < fields() ? f : -1;
}

std::vector<float> KeptRowsTable::rows_to_host(const std::string& parameter) const {
  const Index f = field_of(parameter);
  if (f < 0) {
    if (const std::vector<float>* values = untrained_.find(parameter)) return *values;
    throw InvalidArgument("cuda::KeptRowsTable: no parameter '" + parameter + "' (field<f>.rows)");
  }
  const FieldLayout& field = layout_[static_cast<std::size_t>(f)];
  const std::vector<float> all = values_.to_host();
  const auto first = all.begin() + field.value_offset;
  return {first, first + stored_rows(f) * field.dim};
}

void KeptRowsTable::ensure_state(const DeviceOptimizer& optimizer) {
  ensure_optimizer_state(state_, state_slots_, values_.size(), optimizer,
                         "cuda::KeptRowsTable (" + method_ + ")",
                         static_cast<std::size_t>(total_rows_));
  state_by_row_ = optimizer.row_wise();
}

DeviceTable::StateSpan KeptRowsTable::state_span(const std::string& parameter) const {
  const Index f = field_of(parameter);
  if (f < 0) {
    if (untrained_.find(parameter) != nullptr) return {};  // never stepped
    throw InvalidArgument("cuda::KeptRowsTable: no parameter '" + parameter + "' (field<f>.rows)");
  }
  const FieldLayout& field = layout_[static_cast<std::size_t>(f)];
  const Index rows = stored_rows(f);
  // In state units: the field's values, or its rows where the state is by row.
  const Index first = state_by_row_ ? field.row_base : field.value_offset;
  const Index units = state_by_row_ ? rows : rows * field.dim;
  return span_of(state_, state_slots_, static_cast<std::size_t>(state_slots_ * first),
                 static_cast<std::size_t>(state_slots_ * units));
}

}  // namespace embcomp::cuda
