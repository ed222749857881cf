// RobeTable (cuda/include/embcomp/cuda/robe_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/robe_table.hpp"

#include <limits>
#include <string>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The cells a batch reads: element i = p*d + j of position p reads a cell of the array with a
/// sign, through its checked id.
struct RobeBatch {
  BatchIds ids;
  const Index* field_offsets;
  kernels::RobeHash hash;
  Index d;

  EMBCOMP_DEVICE Index elements() const { return ids.count * d; }
  /// The cell element i reads (and its sign), or -1 (recorded) for an id outside its field.
  EMBCOMP_DEVICE Index cell_of(Index i, float& sign) const {
    const Index p = i / d;
    const Index id = ids.checked_id(p);
    if (id < 0) return -1;
    const Index f = p % ids.fields;
    const Index x = field_offsets[f] + id;
    const Index j = i - p * d;
    sign = kernels::robe_sign(hash, x, f, j);
    return static_cast<Index>(kernels::robe_location(hash, x, f, j));
  }
};

/// One thread per output element: out[i] = sign * M[cell]; nothing is written for a bad id.
EMBCOMP_KERNEL void robe_lookup_kernel(RobeBatch batch, const float* cells, float* out) {
  for (Index i = thread_index(); i < batch.elements(); i += thread_count()) {
    float sign = 1.0f;
    const Index cell = batch.cell_of(i, sign);
    if (cell >= 0) out[i] = sign * cells[cell];
  }
}

/// keys[i] = the cell element i reads (0 for a bad id, recorded: the update then does nothing),
/// elements[i] = i, signs[i] = its sign; the first NaN or Inf of dE is recorded.
EMBCOMP_KERNEL void robe_cells_kernel(RobeBatch batch, const float* dE, RowKey* keys,
                                      Position* elements, float* signs,
                                      unsigned long long* bad_value_index) {
  for (Index i = thread_index(); i < batch.elements(); i += thread_count()) {
    if (!is_finite(dE[i])) atomicMin(bad_value_index, static_cast<unsigned long long>(i));
    float sign = 1.0f;
    const Index cell = batch.cell_of(i, sign);
    keys[i] = cell < 0 ? 0 : static_cast<RowKey>(cell);
    elements[i] = static_cast<Position>(i);
    signs[i] = sign;
  }
}

/// The contribution of element i to its cell's gradient: sign * dE (the CPU's scatter).
struct SignedContribution {
  const float* dE;
  const float* signs;
  EMBCOMP_DEVICE float operator()(Position i, Index /*column*/) const { return signs[i] * dE[i]; }
};

}  // namespace detail

RobeTable::RobeTable(std::string method, std::vector<Index> cardinalities, const HostArray& host)
    : DeviceTable(std::move(method), std::move(cardinalities)), dim_(host.dim), hash_(host.hash) {
  if (host.field_offsets.size() != cardinalities_.size() || dim_ <= 0 || hash_.size <= 0 ||
      hash_.size >= std::int64_t{detail::kNoRow} || hash_.chunk <= 0 || host.cells == nullptr) {
    throw InvalidArgument("cuda::RobeTable: " + std::to_string(host.field_offsets.size()) +
                          " field offsets for " + std::to_string(cardinalities_.size()) +
                          " fields, d = " + std::to_string(dim_) + ", " +
                          std::to_string(hash_.size) + " cells (below 2^32 - 1, values given)");
  }
  field_offsets_ = DeviceArray<Index>::from(host.field_offsets);
  array_ = DeviceRows(static_cast<Index>(hash_.size), 1, host.cells, host.lr_scale);
  cell_bits_ = detail::bit_width_of(static_cast<Index>(hash_.size) - 1);
}

detail::RobeBatch RobeTable::robe_batch(const DeviceIds& ids) const {
  return {{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]},
          field_offsets_.data(),
          hash_,
          dim_};
}

void RobeTable::check_elements(const DeviceIds& ids) const {
  check_batch(ids);
  if (ids.size() * dim_ >= std::numeric_limits<detail::Position>::max()) {
    throw InvalidArgument("cuda (" + method_ + "): a batch of " + std::to_string(ids.size()) +
                          " positions of d = " + std::to_string(dim_) +
                          " reads 2^31 or more cells");
  }
}

void RobeTable::lookup(const DeviceIds& ids, float* out) const {
  check_elements(ids);
  reset_flags();
  detail::launch(ids.size() * dim_, detail::robe_lookup_kernel, robe_batch(ids),
                 array_.values.data(), out);
  throw_on_flags(ids, dim_);
}

template <class Rule>
void RobeTable::update(const Rule& rule, float lr, std::uint64_t step, Index elements,
                       const float* dE) {
  detail::launch_runs_update(
      sorted_cells_.data(), sorted_elements_.data(), elements, 1,
      detail::SignedContribution{dE, signs_.data()}, array_.values.data(), array_.state.data(),
      rule, rule.coefficients(lr * array_.lr_scale, step), cell_gradients_, flags());
}

void RobeTable::train_step(const DeviceIds& ids, const float* dE,
                           const DeviceOptimizer& optimizer) {
  check_elements(ids);
  ensure_state(optimizer);
  const Index elements = ids.size() * dim_;
  const auto n = static_cast<std::size_t>(elements);
  cells_.reserve(n);
  sorted_cells_.reserve(n);
  elements_.reserve(n);
  sorted_elements_.reserve(n);
  signs_.reserve(n);
  reset_flags();
  detail::launch(elements, detail::robe_cells_kernel, robe_batch(ids), dE, cells_.data(),
                 elements_.data(), signs_.data(), &flags()[1]);
  detail::sort_pairs(library_scratch_, cells_.data(), sorted_cells_.data(), elements_.data(),
                     sorted_elements_.data(), elements, cell_bits_);
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    update(rule, optimizer.learning_rate, step, elements, dE);
  });
  throw_on_flags(ids, dim_);
  steps_ = step;
}

std::vector<float> RobeTable::rows_to_host(const std::string& parameter) const {
  check_only_parameter(parameter, "array", "cuda::RobeTable");
  return array_.values.to_host();
}

void RobeTable::ensure_state(const DeviceOptimizer& optimizer) {
  array_.ensure_state(optimizer, "cuda::RobeTable (" + method_ + ")", true);
}

DeviceTable::StateSpan RobeTable::state_span(const std::string& parameter) const {
  check_only_parameter(parameter, "array", "cuda::RobeTable");
  return span_of(array_.state, array_.state_slots);
}

}  // namespace embcomp::cuda
