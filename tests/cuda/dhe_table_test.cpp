// The CUDA dhe table against the CPU dhe table it mirrors, on the same inputs: evaluation-mode
// lookups, training forwards (batch statistics, the running ones updated), steps of every
// optimizer, with per-field networks beside full fields and both encodings. Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU.
//
// In host mode bit for bit: BatchNorm's sums run over the rows in ascending order on both sides
// and its arithmetic is kernels/batch_norm.hpp's. On a GPU, cuBLAS's products and the device's
// exp and tanh (Mish) round differently: values agree within kGpuTolerance of their scale.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/dhe_table.hpp"
#include "embcomp/methods/dhe.hpp"

namespace embcomp::test {
namespace {

constexpr double kGpuTolerance = 1e-4;

// collision_schema: fields of 5000, 40, 3, 700, 1 and 90 ids, d = 16; fields of more than 50 ids
// get a network (5000, 700, 90), the others full rows.
const std::vector<std::string> kSpecs = {"dhe:hashes=24,buckets=1000,threshold=50",
                                         "dhe:hashes=16,buckets=5000,encoding=normal,threshold=50"};

std::unique_ptr<EmbeddingTable> cpu_dhe(const std::string& spec) {
  return make_table(spec, TableArgs(collision_schema(), Budget{4.0}, 3));
}

/// Bit for bit in host mode, require_close (device_support.hpp) at kGpuTolerance on a GPU.
void require_close(const std::vector<float>& a, const std::vector<float>& b,
                   const std::string& what) {
  test::require_close(a, b, what, cuda::host_shim() ? 0.0 : kGpuTolerance);
}

/// The training forward of host ids on the device, copied back.
std::vector<float> device_forward(cuda::DheTable& table, const cuda::DeviceArray<Index>& ids,
                                  Index batch) {
  cuda::DeviceArray<float> out(static_cast<std::size_t>(batch * table.fields() * table.dim()));
  table.forward({ids.data(), batch, table.fields()}, out.data());
  return out.to_host();
}

/// A bias that BatchNorm follows ("field<f>.layer<l>.bias", l < 5): BatchNorm subtracts the
/// batch mean, so its gradient is zero but for rounding (~1e-9), and an optimizer that divides by
/// the gradient's magnitude (Adagrad, Adam) steps it by +-lr on the sign of that rounding, which
/// a GPU's rounding need not share.
bool normalized_bias(const std::string& name) {
  return name.ends_with(".bias") && name.find(".layer5.") == std::string::npos;
}

/// Every parameter of `cpu` (and its optimizer state) against the twin's; on a GPU, with an
/// optimizer that normalises the step, not the biases BatchNorm follows (normalized_bias) nor the
/// running means, which follow them.
void require_same_parameters(const EmbeddingTable& cpu, const Optimizer& optimizer,
                             const cuda::DheTable& device) {
  for (const Parameter* p : cpu.parameters()) {
    const bool normalized_step = optimizer.name() != "sgd" && !cuda::host_shim();
    if (normalized_step && normalized_bias(p->name())) continue;
    if (normalized_step && p->name().ends_with(".running")) {
      // The running means follow those biases: compare the running variances (row 1).
      const std::vector<float> values = device.rows_to_host(p->name());
      require_close({values.begin() + p->width(), values.end()},
                    {p->data() + p->width(), p->data() + p->size()}, "variances of " + p->name());
      continue;
    }
    require_close(device.rows_to_host(p->name()), {p->data(), p->data() + p->size()},
                  "values of " + p->name());
    if (optimizer.slots() > 0 && p->optimized()) {
      require_close(device.state_to_host(p->name()), *optimizer.state(*p), "state of " + p->name());
    }
  }
}

}  // namespace

TEST_CASE("the dhe tables of the cuda tests have networks beside full fields", "[cuda]") {
  const auto table = cpu_dhe(kSpecs[0]);
  const auto& dhe = dynamic_cast<const DheTable&>(*table);
  const auto networks = std::count(dhe.sizing().network.begin(), dhe.sizing().network.end(), true);
  CHECK(networks >= 2);  // the 5000- and 700-id fields at least
  CHECK(networks < 6);   // and full fields beside them
  CHECK(dhe.hidden() > 1);
}

TEST_CASE("cuda dhe looks up and forwards what the CPU dhe does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_dhe(spec);
    const auto source = cpu_dhe(spec);
    auto device = cuda::DheTable::mirror(*source);
    for (const Index batch : {1, 7, 130}) {
      INFO("batch " << batch);
      const auto ids = skewed_ids(cpu->schema(), batch, static_cast<unsigned>(batch));
      require_close(device_lookup(device, ids, cpu->dim()), lookup(*cpu, ids), "lookup");
      const auto device_ids = DeviceArray<Index>::from(ids);
      require_close(device_forward(device, device_ids, batch), cpu_forward(*cpu, ids), "forward");
      // The forward updated the running statistics on both sides (not for a batch of one).
      require_close(
          device.rows_to_host("field0.norm2.running"),
          [&] {
            for (const Parameter* p : cpu->parameters()) {
              if (p->name() == "field0.norm2.running") {
                return std::vector<float>(p->data(), p->data() + p->size());
              }
            }
            return std::vector<float>{};
          }(),
          "running statistics");
    }
  }
}

TEST_CASE("cuda dhe trains as the CPU dhe does with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& optimizer : every_optimizer()) {
      INFO(spec << " with " << optimizer->name());
      const auto cpu = cpu_dhe(spec);
      const auto source = cpu_dhe(spec);
      auto device = cuda::DheTable::mirror(*source);
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      Gradients grads;
      for (unsigned step = 0; step < 4; ++step) {
        const Index batch = step % 2 == 0 ? 48 : 5;
        const auto ids = skewed_ids(cpu->schema(), batch, 40 + step);
        const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu->dim()), step);
        const auto device_ids = DeviceArray<Index>::from(ids);
        const auto device_dE = DeviceArray<float>::from(dE);
        // Step 3 has no forward: both recompute it, leaving the running statistics alone.
        if (step != 3) {
          cpu_forward(*cpu, ids);
          device_forward(device, device_ids, batch);
        }
        cpu_step(*cpu, *optimizer, ids, dE, grads);
        device.train_step({device_ids.data(), batch, device.fields()}, device_dE.data(), rule);
      }
      require_same_parameters(*cpu, *optimizer, device);
      CHECK(device.steps() == optimizer->steps());
    }
  }
}

TEST_CASE("cuda dhe refuses bad input and changes nothing", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_dhe(kSpecs[0]);
  auto device = cuda::DheTable::mirror(*cpu);
  const auto ids = skewed_ids(cpu->schema(), 32, 5);
  const auto device_ids = DeviceArray<Index>::from(ids);
  device_forward(device, device_ids, 32);
  const auto running = device.rows_to_host("field0.norm0.running");
  const auto weights = device.rows_to_host("field0.layer0.weight");
  auto bad = ids;
  bad[3 * 6 + 4] = 1;  // field 4 has one id
  const auto device_bad = DeviceArray<Index>::from(bad);
  CHECK_THROWS_WITH(device_forward(device, device_bad, 32),
                    Catch::Contains("id 1 at position 22 (field 4)"));
  CHECK(device.rows_to_host("field0.norm0.running") == running);  // nothing normalised
  auto nan = normal_values(ids.size() * 16, 7);
  nan[77] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(device_step(device, {cuda::DeviceOptimizer::Kind::sgd, 0.5f}, ids, nan),
                    Catch::Contains("row 4, column 13"));
  // dE finite, but so large that the networks' gradients overflow: refused by their check.
  auto huge = normal_values(ids.size() * 16, 8);
  for (float& v : huge) v *= 3e38f;
  CHECK_THROWS_AS(device_step(device, {cuda::DeviceOptimizer::Kind::sgd, 0.5f}, ids, huge),
                  NonFiniteGradient);
  CHECK(device.rows_to_host("field0.layer0.weight") == weights);
  CHECK(device.steps() == 0);
  // Copied back, the rows are the CPU table's again.
  device_step(device, {cuda::DeviceOptimizer::Kind::sgd, 0.5f}, ids,
              normal_values(ids.size() * 16, 9));
  device.copy_rows_to(*cpu);
  require_close(lookup(*cpu, ids), device_lookup(device, ids, 16), "copied back");
  CHECK_THROWS_AS(device.rows_to_host("rows"), InvalidArgument);
}

}  // namespace embcomp::test
