// DeviceTable's host-batch forms (device_table.hpp): plain C++, compiled by the host compiler in
// both builds (nvcc warns on the const conversion of the CPU library's matrix views).
#include <string>

#include "embcomp/core/error.hpp"
#include "embcomp/cuda/device_table.hpp"

namespace embcomp::cuda {

DeviceIds DeviceTable::upload_host_batch(const IdBatch& ids, ConstMatrix rows) const {
  if (ids.fields != fields() || ids.batch < 0 || rows.rows != ids.size() || rows.cols != dim()) {
    throw InvalidArgument("cuda (" + method_ + "): a batch of [" + std::to_string(ids.batch) +
                          " x " + std::to_string(ids.fields) + "] ids and [" +
                          std::to_string(rows.rows) + " x " + std::to_string(rows.cols) +
                          "] rows, expected [B x " + std::to_string(fields()) + "] and [B*" +
                          std::to_string(fields()) + " x " + std::to_string(dim()) + "]");
  }
  const auto count = static_cast<std::size_t>(ids.size());
  host_ids_.reserve(count);
  copy_to_device(host_ids_.data(), ids.ids, count * sizeof(Index));
  host_rows_.reserve(count * static_cast<std::size_t>(dim()));
  if (rows.data != nullptr)
    copy_to_device(host_rows_.data(), rows.data, rows.size() * sizeof(float));
  return {host_ids_.data(), ids.batch, ids.fields};
}

void DeviceTable::lookup_host(const IdBatch& ids, Matrix out) const {
  const DeviceIds device_ids = upload_host_batch(ids, {nullptr, out.rows, out.cols});
  lookup(device_ids, host_rows_.data());
  copy_to_host(out.data, host_rows_.data(), out.size() * sizeof(float));
}

void DeviceTable::train_step_host(const IdBatch& ids, ConstMatrix dE,
                                  const DeviceOptimizer& optimizer) {
  const DeviceIds device_ids = upload_host_batch(ids, dE);  // before host_rows_.data(): it grows
  train_step(device_ids, host_rows_.data(), optimizer);
}

}  // namespace embcomp::cuda
