// DeviceTable, DeviceRows and DeviceOptimizer (cuda/include/embcomp/cuda/device_table.hpp).
#include "embcomp/cuda/device_table.hpp"

#include <limits>
#include <string>

#include "embcomp/core/error.hpp"
#include "sparse_update.cuh"

namespace embcomp::cuda {

DeviceRows::DeviceRows(Index rows_, Index width_, const float* host, float lr_scale_)
    : rows(rows_),
      width(width_),
      lr_scale(lr_scale_),
      values(DeviceArray<float>::from({host, static_cast<std::size_t>(rows_ * width_)})) {}

void ensure_optimizer_state(DeviceArray<float>& state, int& slots, std::size_t elements,
                            const DeviceOptimizer& optimizer, const std::string& owner,
                            std::size_t rows) {
  if (optimizer.row_wise() && rows == 0) {
    throw InvalidArgument(owner + " has no device form of " + optimizer.name() +
                          " yet");
  }
  if (optimizer.row_wise()) elements = rows;
  if (slots == optimizer.slots()) return;
  if (slots >= 0) {
    throw InvalidArgument("cuda: " + owner + " stepped by " + optimizer.name() +
                          " after another optimizer; its state cannot carry over");
  }
  slots = optimizer.slots();
  state = DeviceArray<float>(static_cast<std::size_t>(slots) * elements);
  state.zero();
}

DeviceTable::DeviceTable(std::string method, std::vector<Index> cardinalities)
    : method_(std::move(method)),
      cardinalities_(std::move(cardinalities)),
      field_sizes_(DeviceArray<Index>::from(cardinalities_)),
      flags_(1) {
  if (cardinalities_.empty()) throw InvalidArgument("cuda: a table of no fields");
}

void DeviceTable::check_batch(const DeviceIds& ids) const {
  if (ids.fields != fields() || ids.batch < 0 || (ids.ids == nullptr && ids.batch > 0)) {
    throw InvalidArgument("cuda (" + method_ + "): a batch of " + std::to_string(ids.batch) +
                          " x " + std::to_string(ids.fields) + " ids for a table of " +
                          std::to_string(fields()) + " fields");
  }
  if (ids.size() >= std::numeric_limits<detail::Position>::max()) {
    throw InvalidArgument("cuda (" + method_ + "): a batch of 2^31 or more positions");
  }
}

void DeviceTable::on_validation_batch(const DeviceIds& /*ids*/, const float* /*dE*/) {
  throw InvalidArgument("cuda: the twin of '" + method_ + "' takes no validation batches now");
}

void DeviceTable::reset_flags() const {
  // kNone is every bit set: one asynchronous fill, no copy from the host.
  fill_device(flags_.data(), 0xFF, sizeof(Flags));
}

void DeviceTable::check_only_parameter(const std::string& parameter, const char* name,
                                       const char* owner) const {
  if (parameter != name) {
    throw InvalidArgument(std::string(owner) + " (" + method_ + "): no parameter '" + parameter +
                          "' (its one parameter is '" + name + "')");
  }
}

std::vector<float> DeviceTable::state_to_host(const std::string& parameter) const {
  const StateSpan span = state_span(parameter);
  std::vector<float> host(span.count);
  if (span.count > 0) copy_to_host(host.data(), span.data, span.count * sizeof(float));
  return host;
}

void DeviceTable::state_from_host(const std::string& parameter, std::span<const float> values,
                                  const DeviceOptimizer& optimizer) {
  state_span(parameter);  // an unknown name throws before anything is allocated
  ensure_state(optimizer);
  const StateSpan span = state_span(parameter);
  if (span.count != values.size()) {
    throw InvalidArgument("cuda (" + method_ + "): the optimizer state of '" + parameter +
                          "' has " + std::to_string(span.count) + " values on the device, " +
                          std::to_string(values.size()) + " were given");
  }
  if (span.count > 0) copy_to_device(span.data, values.data(), values.size_bytes());
}

void DeviceTable::throw_on_flags(const DeviceIds& ids, Index width) const {
  const Flags flags = flags_.to_host()[0];
  if (flags.bad_id_position != detail::kNone) {
    const auto p = static_cast<Index>(flags.bad_id_position);
    Index id = 0;
    copy_to_host(&id, ids.ids + p, sizeof(Index));
    const Index f = p % ids.fields;
    throw InvalidArgument("cuda (" + method_ + "): id " + std::to_string(id) + " at position " +
                          std::to_string(p) + " (field " + std::to_string(f) + ") is outside [0, " +
                          std::to_string(cardinalities_[f]) + "); nothing was changed");
  }
  if (flags.bad_value_index != detail::kNone) {
    const auto i = static_cast<Index>(flags.bad_value_index);
    throw NonFiniteGradient("cuda (" + method_ + "): dE holds a NaN or Inf at row " +
                            std::to_string(i / width) + ", column " + std::to_string(i % width) +
                            "; the step was refused and nothing was changed");
  }
}

int DeviceOptimizer::slots() const {
  switch (kind) {
    case Kind::sgd:
      return kernels::SgdRule::kSlots;
    case Kind::adagrad:
      return kernels::AdagradRule::kSlots;
    case Kind::adam:
      return kernels::AdamRule::kSlots;
    case Kind::rowwise_adagrad:
      return kernels::RowwiseAdagradRule::kSlots;
  }
  return 0;
}

const char* DeviceOptimizer::name() const {
  switch (kind) {
    case Kind::sgd:
      return "sgd";
    case Kind::adagrad:
      return "adagrad";
    case Kind::adam:
      return "adam";
    case Kind::rowwise_adagrad:
      return "rowwise_adagrad";
  }
  return "?";
}

}  // namespace embcomp::cuda
