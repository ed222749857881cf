// 17: a table on the GPU. A CPU table is built as usual (sizing from the budget, init), mirrored
// onto the device, trained there with the fused lookup/backward/update step, and copied back.
//
// The task: pull every embedding toward a fixed target vector of its id (loss 1/2 |E - T|^2, so
// dE = E - T); the mean loss falls toward 0. With -DEMBCOMP_CUDA=ON this runs on the GPU;
// built without it, against the host shim that the tests use (the same kernels, run on the CPU).
#include <cstdio>
#include <random>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/registry.hpp"

using namespace embcomp;

int main() {
  if (!cuda::host_shim() && !cuda::device_present()) {
    std::printf("EMBCOMP_TEST_SKIPPED: no CUDA device\n");
    return 0;
  }
  std::printf("backend: %s\n", cuda::device_description().c_str());
  // Any method with a twin works the same way: "hash:hash=xxhash" at 10x, "int8", "qr", "cafe"
  // (cuda::mirror names the methods that have none).
  const Schema schema{{500, 300, 7, 100}, 16};
  const auto table = make_table("full", TableArgs(schema, Budget{1.0}, 1));
  const std::unique_ptr<cuda::DeviceTable> device = cuda::mirror(*table);
  const auto adam = cuda::DeviceOptimizer::of(Adam(0.01f));

  const Index batch = 256, fields = schema.num_fields(), d = schema.dim;
  std::mt19937_64 rng(2);
  std::vector<Index> ids(static_cast<std::size_t>(batch * fields));
  std::vector<float> E(ids.size() * d), dE(E.size());
  cuda::DeviceArray<Index> device_ids(ids.size());
  cuda::DeviceArray<float> device_E(E.size()), device_dE(E.size());
  double first_loss = 0.0, last_loss = 0.0;
  for (int step = 1; step <= 200; ++step) {
    for (std::size_t p = 0; p < ids.size(); ++p) {
      ids[p] =
          static_cast<Index>(rng() % static_cast<std::uint64_t>(schema.cardinalities[p % fields]));
    }
    device_ids.upload(ids);
    const cuda::DeviceIds on_device{device_ids.data(), batch, fields};
    device->lookup(on_device, device_E.data());
    E = device_E.to_host();
    double loss = 0.0;
    for (std::size_t p = 0; p < ids.size(); ++p) {
      for (Index c = 0; c < d; ++c) {
        // The target: +-0.1 by the parity of id + c.
        const float target = (ids[p] + c) % 2 == 0 ? 0.1f : -0.1f;
        const float diff = E[p * d + c] - target;
        dE[p * d + c] = diff;
        loss += 0.5 * diff * diff;
      }
    }
    loss /= static_cast<double>(ids.size());
    if (step == 1) first_loss = loss;
    last_loss = loss;
    device_dE.upload(dE);
    device->train_step(on_device, device_dE.data(), adam);
    if (step % 50 == 0 || step == 1) {
      std::printf("step %3d  mean loss %.5f\n", step, loss);
    }
  }
  device->copy_rows_to(*table);  // the CPU table now holds the trained rows: save(), serve, ...
  std::printf("trained '%s' on the device and copied it back (%llu steps)\n",
              table->spec().c_str(), static_cast<unsigned long long>(device->steps()));
  if (!(last_loss < first_loss / 100)) {
    std::printf("the loss did not fall a hundredfold: %.5f -> %.5f\n", first_loss, last_loss);
    return 1;
  }
  return 0;
}
