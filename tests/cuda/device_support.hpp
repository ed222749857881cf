// Helpers of the CUDA backend's tests (tests/cuda): batches with repeated rows, the CPU side of
// a comparison, and the skip for a GPU build without a device.
#pragma once

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/sgd.hpp"
#include "embcomp/registry.hpp"
#include "shared_data.hpp"

namespace embcomp::test {

using cuda::DeviceArray;

/// True when the kernels can run here (host mode, or a GPU); otherwise prints the skip marker.
inline bool backend_ready() {
  if (cuda::host_shim() || cuda::device_present()) return true;
  std::printf("%s: no CUDA device\n", kSkipMarker);
  return false;
}

inline IdBatch batch_of(const std::vector<Index>& ids, const Schema& schema) {
  return {ids.data(), static_cast<Index>(ids.size()) / schema.num_fields(), schema.num_fields()};
}

inline std::vector<float> lookup(const EmbeddingTable& table, const std::vector<Index>& ids) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.lookup(batch, {out.data(), batch.size(), table.dim()});
  return out;
}

/// Fields where hashing collides often: a batch of 64 has many repeated rows.
inline Schema collision_schema() {
  return Schema{{5000, 40, 3, 700, 1, 90}, 16};
}

/// Ids with a skew (a quarter of the draws from the first 8 ids of a field), so rows repeat.
inline std::vector<Index> skewed_ids(const Schema& schema, Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<Index> ids(static_cast<std::size_t>(batch * schema.num_fields()));
  for (Index b = 0; b < batch; ++b) {
    for (Index f = 0; f < schema.num_fields(); ++f) {
      const Index n = schema.cardinalities[f];
      std::uniform_int_distribution<Index> any(0, n - 1), hot(0, std::min<Index>(n, 8) - 1);
      ids[b * schema.num_fields() + f] = rng() % 4 == 0 ? hot(rng) : any(rng);
    }
  }
  return ids;
}

inline std::vector<float> normal_values(std::size_t count, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

/// out[B*F x d] of a device table's lookup of host ids, copied back.
template <class DeviceTableT>
std::vector<float> device_lookup(const DeviceTableT& table, const std::vector<Index>& ids,
                                 Index dim) {
  const auto device_ids = DeviceArray<Index>::from(ids);
  const Index batch = static_cast<Index>(ids.size()) / table.fields();
  DeviceArray<float> out(ids.size() * static_cast<std::size_t>(dim));
  table.lookup({device_ids.data(), batch, table.fields()}, out.data());
  return out.to_host();
}

/// One CPU training step of `table`: backward on dE, then the optimizer.
inline void cpu_step(EmbeddingTable& table, Optimizer& optimizer, const std::vector<Index>& ids,
                     const std::vector<float>& dE, Gradients& grads) {
  const IdBatch batch = batch_of(ids, table.schema());
  table.backward(batch, {dE.data(), batch.size(), table.dim()}, grads);
  optimizer.step(grads);
}

/// The same step on a device table, inputs copied to the device first.
template <class DeviceTableT>
void device_step(DeviceTableT& table, const cuda::DeviceOptimizer& optimizer,
                 const std::vector<Index>& ids, const std::vector<float>& dE) {
  const auto device_ids = DeviceArray<Index>::from(ids);
  const auto device_dE = DeviceArray<float>::from(dE);
  const Index batch = static_cast<Index>(ids.size()) / table.fields();
  table.train_step({device_ids.data(), batch, table.fields()}, device_dE.data(), optimizer);
}

/// SGD, Adagrad and Adam, fresh.
inline std::vector<std::unique_ptr<Optimizer>> all_optimizers() {
  std::vector<std::unique_ptr<Optimizer>> list;
  list.push_back(std::make_unique<Sgd>(0.05f));
  list.push_back(std::make_unique<Adagrad>(0.05f));
  list.push_back(std::make_unique<Adam>(0.01f));
  return list;
}

}  // namespace embcomp::test
