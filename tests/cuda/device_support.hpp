// Helpers of the CUDA backend's tests (tests/cuda): batches with repeated rows, the CPU side of
// a comparison, and the skip for a GPU build without a device.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
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

/// The table's checkpoint bytes (its rows, indices and method state, such as cafe's sketches).
inline std::string checkpoint(const EmbeddingTable& table) {
  std::ostringstream out;
  table.save(out);
  return out.str();
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

/// "" where a equals b element by element, else how many values differ and the first that does:
/// a failed check prints this line, not two long vectors (slow to print).
inline std::string difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return std::to_string(a.size()) + " values against " + std::to_string(b.size());
  }
  std::size_t differ = 0, first = a.size();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    if (differ++ == 0) first = i;
  }
  if (differ == 0) return "";
  std::ostringstream out;
  out << differ << " of " << a.size() << " values differ, the first at " << first << ": "
      << a[first] << " against " << b[first];
  return out.str();
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

/// out[B*F x d] of a CPU table's training forward (EmbeddingTable::forward) of host ids.
inline std::vector<float> cpu_forward(EmbeddingTable& table, const std::vector<Index>& ids) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.forward(batch, {out.data(), batch.size(), table.dim()});
  return out;
}

/// The same on a twin (DeviceTable::forward): the ids copied to the device, out back.
inline std::vector<float> device_forward(cuda::DeviceTable& table, const std::vector<Index>& ids,
                                         Index dim) {
  const auto device_ids = DeviceArray<Index>::from(ids);
  DeviceArray<float> out(ids.size() * static_cast<std::size_t>(dim));
  table.forward(
      {device_ids.data(), static_cast<Index>(ids.size()) / table.fields(), table.fields()},
      out.data());
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

/// Checks that the twin `device` looks up what `cpu` does, on skewed batches of each size.
template <class DeviceTableT>
void check_same_lookups(const EmbeddingTable& cpu, const DeviceTableT& device,
                        std::initializer_list<Index> batches = {1, 5, 130}) {
  for (const Index batch : batches) {
    INFO("batch " << batch);
    const auto ids = skewed_ids(cpu.schema(), batch, static_cast<unsigned>(batch));
    CHECK(difference(device_lookup(device, ids, cpu.dim()), lookup(cpu, ids)) == "");
  }
}

/// Trains `cpu` (backward, optimizer step, after_step, as the trainer does) and the device table
/// `device` (its step, after_step) on the same `steps` batches: step s has batch_sizes[s % size]
/// samples of skewed ids (seed + s) and normal dE (seed s).
template <class DeviceTableT>
void train_twins(EmbeddingTable& cpu, Optimizer& optimizer, DeviceTableT& device,
                 const cuda::DeviceOptimizer& device_optimizer, unsigned steps,
                 const std::vector<Index>& batch_sizes, unsigned seed) {
  Gradients grads;
  for (unsigned step = 0; step < steps; ++step) {
    const auto ids = skewed_ids(cpu.schema(), batch_sizes[step % batch_sizes.size()], seed + step);
    const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu.dim()), step);
    cpu_step(cpu, optimizer, ids, dE, grads);
    const StepContext ctx{optimizer.steps(), 0, 0.0, &optimizer};
    cpu.after_step(ctx);
    device_step(device, device_optimizer, ids, dE);
    device.after_step(ctx);
  }
}

/// Checks every parameter of `cpu`, and its state in `optimizer`, against the twin's table of
/// the same name (rows_to_host, state_to_host), and the step counts; returns the names compared.
template <class DeviceTableT>
std::vector<std::string> check_same_parameters(const EmbeddingTable& cpu,
                                               const Optimizer& optimizer,
                                               const DeviceTableT& device) {
  std::vector<std::string> compared;
  for (const Parameter* param : cpu.parameters()) {
    INFO(param->name());
    CHECK(difference(device.rows_to_host(param->name()),
                     std::vector<float>(param->data(), param->data() + param->size())) == "");
    if (optimizer.slots() > 0) {
      // The CPU optimizer makes a parameter's state at its first gradient; a twin may hold
      // zeros for a parameter that has had none (optembed's field that keeps no row).
      const std::vector<float>* state = optimizer.state(*param);
      std::vector<float> device_state = device.state_to_host(param->name());
      if (state == nullptr || state->empty()) {
        CHECK(std::count(device_state.begin(), device_state.end(), 0.0f) ==
              static_cast<std::ptrdiff_t>(device_state.size()));
      } else {
        CHECK(difference(device_state, *state) == "");
      }
    }
    compared.push_back(param->name());
  }
  CHECK(device.steps() == optimizer.steps());
  return compared;
}

/// Checks, on a twin `device` of `cpu` (collision_schema, d = 16): one SGD step on the device
/// and copy_rows_to put the device's parameters in `cpu`; then a bad id and a NaN in dE are
/// refused (the id named) with `parameter` unchanged and one step counted. Returns the batch
/// it stepped on, for the caller's own refusals.
template <class DeviceTableT>
std::vector<Index> check_copy_back_and_bad_input(EmbeddingTable& cpu, DeviceTableT& device,
                                                 const std::string& parameter) {
  const auto ids = skewed_ids(cpu.schema(), 32, 5);
  device_step(device, {cuda::DeviceOptimizer::Kind::sgd, 0.5f}, ids,
              normal_values(ids.size() * 16, 6));
  const auto before = lookup(cpu, ids);
  device.copy_rows_to(cpu);
  CHECK(lookup(cpu, ids) != before);
  CHECK(lookup(cpu, ids) == device_lookup(device, ids, 16));

  const auto trained = device.rows_to_host(parameter);
  auto bad = ids;
  bad[3 * 6 + 4] = 1;  // field 4 has one id
  CHECK_THROWS_WITH(device_step(device, {cuda::DeviceOptimizer::Kind::sgd, 0.5f}, bad,
                                normal_values(ids.size() * 16, 7)),
                    Catch::Contains("id 1 at position 22 (field 4)"));
  auto nan = normal_values(ids.size() * 16, 7);
  nan[77] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(device_step(device, {cuda::DeviceOptimizer::Kind::sgd, 0.5f}, ids, nan),
                    Catch::Contains("row 4, column 13"));
  CHECK(device.rows_to_host(parameter) == trained);
  CHECK(device.steps() == 1);
  return ids;
}

/// Requires |a - b| <= tolerance * max(1, max |b|) element by element, and a finite: for twins
/// that agree with the CPU within rounding (their sums in another order).
inline void require_close(const std::vector<float>& a, const std::vector<float>& b,
                          const std::string& what, double tolerance) {
  INFO(what);
  REQUIRE(a.size() == b.size());
  float scale = 1.0f;
  for (const float v : b) scale = std::max(scale, std::fabs(v));
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(std::isfinite(a[i]));
    worst = std::max(worst, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  INFO("largest difference " << worst << ", scale " << scale);
  REQUIRE(worst <= tolerance * scale);
}

/// SGD, Adagrad and Adam, fresh.
inline std::vector<std::unique_ptr<Optimizer>> all_optimizers() {
  std::vector<std::unique_ptr<Optimizer>> list;
  list.push_back(std::make_unique<Sgd>(0.05f));
  list.push_back(std::make_unique<Adagrad>(0.05f));
  list.push_back(std::make_unique<Adam>(0.01f));
  return list;
}

/// all_optimizers and row-wise Adagrad, for the twins with its row form.
inline std::vector<std::unique_ptr<Optimizer>> every_optimizer() {
  auto list = all_optimizers();
  list.push_back(std::make_unique<RowwiseAdagrad>(0.05f));
  return list;
}

}  // namespace embcomp::test
