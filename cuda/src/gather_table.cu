// GatherTable (cuda/include/embcomp/cuda/gather_table.hpp): the kernels and their driver. The
// same source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/gather_table.hpp"

#include <limits>
#include <string>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "primitives.cuh"

namespace embcomp::cuda {
namespace detail {

inline constexpr unsigned long long kNone = ~0ULL;

/// One thread per (position, V-float chunk of its row): out[p] = W[row of ids[p]]. An id outside
/// its field's range records the first such position and writes nothing.
template <int V>
EMBCOMP_KERNEL void gather_kernel(const Index* ids, Index count, Index fields,
                                  const kernels::FieldRows* field_rows, const Index* field_sizes,
                                  const float* table, Index width, float* out,
                                  unsigned long long* bad_id_position) {
  const Index chunks = width / V;
  for (Index i = thread_index(); i < count * chunks; i += thread_count()) {
    const Index p = i / chunks;
    const Index c = (i - p * chunks) * V;
    const Index f = p % fields;
    const Index id = ids[p];
    if (id < 0 || id >= field_sizes[f]) {
      atomicMin(bad_id_position, static_cast<unsigned long long>(p));
      continue;
    }
    const Index row = kernels::field_row(field_rows[f], id);
    copy_floats<V>(table + row * width + c, out + p * width + c);
  }
}

/// rows[p] = the row position p reads, positions[p] = p; an id out of range is recorded (its
/// row is set to 0 so the sort stays in bounds; the update then does nothing).
EMBCOMP_KERNEL void rows_kernel(const Index* ids, Index count, Index fields,
                                const kernels::FieldRows* field_rows, const Index* field_sizes,
                                Index* rows, Position* positions,
                                unsigned long long* bad_id_position) {
  for (Index p = thread_index(); p < count; p += thread_count()) {
    const Index f = p % fields;
    const Index id = ids[p];
    positions[p] = static_cast<Position>(p);
    if (id < 0 || id >= field_sizes[f]) {
      atomicMin(bad_id_position, static_cast<unsigned long long>(p));
      rows[p] = 0;
      continue;
    }
    rows[p] = kernels::field_row(field_rows[f], id);
  }
}

/// Records the first index of a NaN or Inf in values[0, count).
EMBCOMP_KERNEL void non_finite_kernel(const float* values, Index count,
                                      unsigned long long* bad_value_index) {
  for (Index i = thread_index(); i < count; i += thread_count()) {
    if (!is_finite(values[i])) atomicMin(bad_value_index, static_cast<unsigned long long>(i));
  }
}

/// One thread per (unique row u, column c): the gradient is the sum of dE[p][c] over the
/// positions of u in ascending order, applied at once by the rule. Does nothing when a check
/// recorded bad input (the earlier kernels of the step, in stream order).
template <class Rule>
EMBCOMP_KERNEL void update_kernel(const Index* unique_rows, const Position* offsets,
                                  const Index* runs, const Position* sorted_positions,
                                  const float* dE, Index width, Index max_runs, float* table,
                                  float* state, Rule rule, typename Rule::Coefficients k,
                                  const unsigned long long* flags) {
  if (flags[0] != kNone || flags[1] != kNone) return;
  const Index unique = *runs;
  const Index state_width = Rule::kSlots * width;
  for (Index i = thread_index(); i < max_runs * width; i += thread_count()) {
    const Index u = i / width;
    if (u >= unique) return;  // i only grows: every later item is past the runs too
    const Index c = i - u * width;
    float g = 0.0f;
    for (Position j = offsets[u]; j < offsets[u + 1]; ++j) {
      g += dE[static_cast<Index>(sorted_positions[j]) * width + c];
    }
    const Index row = unique_rows[u];
    rule.update_element(table[row * width + c], g, state + row * state_width + c, width, k);
  }
}

/// Bits needed to write `value` (at least 1).
inline int bit_width_of(Index value) {
  int bits = 1;
  while (bits < 63 && (value >> bits) != 0) ++bits;
  return bits;
}

}  // namespace detail

GatherTable::GatherTable(std::string method, std::vector<kernels::FieldRows> fields,
                         std::vector<Index> cardinalities, Index rows, Index width,
                         const float* host_rows, float lr_scale)
    : method_(std::move(method)), cardinalities_(std::move(cardinalities)), rows_(rows),
      width_(width), lr_scale_(lr_scale) {
  if (fields.size() != cardinalities_.size() || fields.empty() || rows <= 0 || width <= 0) {
    throw InvalidArgument("cuda::GatherTable: " + std::to_string(fields.size()) +
                          " field maps for " + std::to_string(cardinalities_.size()) +
                          " fields, " + std::to_string(rows) + " rows of width " +
                          std::to_string(width));
  }
  field_rows_ = DeviceArray<kernels::FieldRows>::from(fields);
  field_sizes_ = DeviceArray<Index>::from(cardinalities_);
  table_ = DeviceArray<float>::from({host_rows, static_cast<std::size_t>(rows * width)});
  flags_ = DeviceArray<Flags>(1);
  row_bits_ = detail::bit_width_of(rows - 1);
}

void GatherTable::check_batch(const DeviceIds& ids) const {
  if (ids.fields != fields() || ids.batch < 0 || (ids.ids == nullptr && ids.batch > 0)) {
    throw InvalidArgument("cuda::GatherTable (" + method_ + "): a batch of " +
                          std::to_string(ids.batch) + " x " + std::to_string(ids.fields) +
                          " ids for a table of " + std::to_string(fields()) + " fields");
  }
  if (ids.size() >= std::numeric_limits<Position>::max()) {
    throw InvalidArgument("cuda::GatherTable: a batch of 2^31 or more positions");
  }
}

void GatherTable::reset_flags() const {
  const Flags none{detail::kNone, detail::kNone};
  flags_.upload({&none, 1});
}

void GatherTable::throw_on_flags(const DeviceIds& ids) const {
  const Flags flags = flags_.to_host()[0];
  if (flags.bad_id_position != detail::kNone) {
    const auto p = static_cast<Index>(flags.bad_id_position);
    Index id = 0;
    copy_to_host(&id, ids.ids + p, sizeof(Index));
    const Index f = p % ids.fields;
    throw InvalidArgument("cuda::GatherTable (" + method_ + "): id " + std::to_string(id) +
                          " at position " + std::to_string(p) + " (field " + std::to_string(f) +
                          ") is outside [0, " + std::to_string(cardinalities_[f]) +
                          "); nothing was changed");
  }
  if (flags.bad_value_index != detail::kNone) {
    const auto i = static_cast<Index>(flags.bad_value_index);
    throw NonFiniteGradient("cuda::GatherTable (" + method_ + "): dE holds a NaN or Inf at row " +
                            std::to_string(i / width_) + ", column " +
                            std::to_string(i % width_) +
                            "; the step was refused and nothing was changed");
  }
}

void GatherTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  auto* bad_id = &flags_.data()->bad_id_position;
  const Index count = ids.size();
  const bool vectors = width_ % 4 == 0 && reinterpret_cast<std::uintptr_t>(out) % 16 == 0;
  if (vectors) {
    detail::launch(count * (width_ / 4), detail::gather_kernel<4>, ids.ids, count, ids.fields,
                   field_rows_.data(), field_sizes_.data(), table_.data(), width_, out, bad_id);
  } else {
    detail::launch(count * width_, detail::gather_kernel<1>, ids.ids, count, ids.fields,
                   field_rows_.data(), field_sizes_.data(), table_.data(), width_, out, bad_id);
  }
  throw_on_flags(ids);
}

void GatherTable::ensure_state(const DeviceOptimizer& optimizer) {
  const int slots = optimizer.slots();
  if (state_slots_ == slots) return;
  if (state_slots_ >= 0) {
    throw InvalidArgument("cuda::GatherTable (" + method_ + "): stepped by " + optimizer.name() +
                          " after another optimizer; its state cannot carry over");
  }
  state_ = DeviceArray<float>(static_cast<std::size_t>(slots * rows_ * width_));
  state_.zero();
  state_slots_ = slots;
}

template <class Rule>
static void launch_update(const Rule& rule, float lr, std::uint64_t step, Index max_runs,
                          Index width, const Index* unique_rows, const std::int32_t* offsets,
                          const Index* runs, const std::int32_t* sorted_positions,
                          const float* dE, float* table, float* state,
                          const unsigned long long* flags) {
  detail::launch(max_runs * width, detail::update_kernel<Rule>, unique_rows, offsets, runs,
                 sorted_positions, dE, width, max_runs, table, state, rule,
                 rule.coefficients(lr, step), flags);
}

void GatherTable::train_step(const DeviceIds& ids, const float* dE,
                             const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  const Index count = ids.size();
  const auto n = static_cast<std::size_t>(count);
  step_rows_.reserve(n);
  sorted_rows_.reserve(n);
  unique_rows_.reserve(n);
  run_count_.reserve(1);
  positions_.reserve(n);
  sorted_positions_.reserve(n);
  run_lengths_.reserve(n + 1);
  run_offsets_.reserve(n + 1);

  reset_flags();
  auto* flags = reinterpret_cast<unsigned long long*>(flags_.data());
  detail::launch(count, detail::rows_kernel, ids.ids, count, ids.fields, field_rows_.data(),
                 field_sizes_.data(), step_rows_.data(), positions_.data(), &flags[0]);
  detail::launch(count * width_, detail::non_finite_kernel, dE, count * width_, &flags[1]);
  detail::sort_pairs(library_scratch_, step_rows_.data(), sorted_rows_.data(), positions_.data(),
                     sorted_positions_.data(), count, row_bits_);
  // Runs past the last are zero, so the scan over count + 1 lengths ends every run's range.
  zero_device(run_lengths_.data(), (n + 1) * sizeof(Position));
  detail::run_length_encode(library_scratch_, sorted_rows_.data(), unique_rows_.data(),
                            run_lengths_.data(), run_count_.data(), count);
  detail::exclusive_sum(library_scratch_, run_lengths_.data(), run_offsets_.data(), count + 1);

  const std::uint64_t step = steps_ + 1;
  const float lr = optimizer.learning_rate * lr_scale_;
  switch (optimizer.kind) {
    case DeviceOptimizer::Kind::sgd:
      launch_update(kernels::SgdRule{}, lr, step, count, width_,
                    unique_rows_.data(), run_offsets_.data(), run_count_.data(),
                    sorted_positions_.data(), dE, table_.data(), state_.data(), flags);
      break;
    case DeviceOptimizer::Kind::adagrad:
      launch_update(optimizer.adagrad, lr, step, count, width_,
                    unique_rows_.data(), run_offsets_.data(), run_count_.data(),
                    sorted_positions_.data(), dE, table_.data(), state_.data(), flags);
      break;
    case DeviceOptimizer::Kind::adam:
      launch_update(optimizer.adam, lr, step, count, width_,
                    unique_rows_.data(), run_offsets_.data(), run_count_.data(),
                    sorted_positions_.data(), dE, table_.data(), state_.data(), flags);
      break;
  }
  throw_on_flags(ids);
  steps_ = step;
}

std::vector<float> GatherTable::rows_to_host() const { return table_.to_host(); }

std::vector<float> GatherTable::state_to_host() const {
  return state_slots_ > 0 ? state_.to_host() : std::vector<float>{};
}

int DeviceOptimizer::slots() const {
  switch (kind) {
    case Kind::sgd: return kernels::SgdRule::kSlots;
    case Kind::adagrad: return kernels::AdagradRule::kSlots;
    case Kind::adam: return kernels::AdamRule::kSlots;
  }
  return 0;
}

const char* DeviceOptimizer::name() const {
  switch (kind) {
    case Kind::sgd: return "sgd";
    case Kind::adagrad: return "adagrad";
    case Kind::adam: return "adam";
  }
  return "?";
}

}  // namespace embcomp::cuda
