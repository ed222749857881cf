// The CUDA deeplight table against the CPU deeplight table, on the same inputs: training steps
// with the schedule's prunes in between, and a prune of rows full of tied magnitudes. Built
// twice (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/deeplight_table.hpp"
#include "embcomp/methods/deeplight.hpp"

namespace embcomp::test {
namespace {

std::unique_ptr<EmbeddingTable> cpu_deeplight(const std::string& spec = "deeplight") {
  return make_table(spec, TableArgs(collision_schema(), Budget{4.0}, 3));
}

DeepLightTable& as_deeplight(EmbeddingTable& table) {
  return dynamic_cast<DeepLightTable&>(table);
}

Index zeros_of(const std::vector<float>& values) {
  return std::count(values.begin(), values.end(), 0.0f);
}

}  // namespace

TEST_CASE("cuda deeplight trains and prunes as the CPU deeplight does", "[cuda]") {
  if (!backend_ready()) return;
  for (auto& cpu_optimizer : every_optimizer()) {
    INFO(cpu_optimizer->name());
    const auto cpu = cpu_deeplight("deeplight:every=4");
    const auto schedule = cpu_deeplight("deeplight:every=4");  // the twin's CPU table
    auto device = cuda::DeepLightTable::mirror(as_deeplight(*schedule));
    const auto device_optimizer = cuda::DeviceOptimizer::of(*cpu_optimizer);
    Gradients grads;
    constexpr Index kStageSteps = 12;
    for (Index step = 1; step <= kStageSteps; ++step) {
      const auto ids = skewed_ids(cpu->schema(), 64, static_cast<unsigned>(600 + step));
      const auto dE = normal_values(ids.size() * 16, static_cast<unsigned>(step));
      cpu_step(*cpu, *cpu_optimizer, ids, dE, grads);
      device_step(device, device_optimizer, ids, dE);
      // Step 6 is followed by a validation: both prune then too.
      const StepContext ctx{
          static_cast<std::uint64_t>(step), 0, 0.0, nullptr, step, kStageSteps, step == 6};
      cpu->after_step(ctx);
      device.after_step(ctx);
    }
    check_same_parameters(*cpu, *cpu_optimizer, device);
    // The schedule reached its target: the rows hold the budget's nonzeros, no more.
    const auto rows = device.rows_to_host();
    CHECK(static_cast<Index>(rows.size()) - zeros_of(rows) <= as_deeplight(*cpu).target_nonzeros());
    CHECK(as_deeplight(*schedule).prune_rate() == as_deeplight(*cpu).prune_rate());
    CHECK(as_deeplight(*cpu).prune_rate() == as_deeplight(*cpu).target_rate());
  }
}

TEST_CASE("cuda deeplight prunes tied magnitudes in index order as the CPU does", "[cuda]") {
  if (!backend_ready()) return;
  // Every entry one of +-0.5, +-0.25, 0 (and -0): the threshold falls inside a run of ties.
  const auto cpu = cpu_deeplight();
  const auto schedule = cpu_deeplight();
  Parameter& rows = *cpu->parameters().front();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const float values[] = {0.5f, -0.25f, 0.0f, 0.25f, -0.5f, -0.0f, 0.25f};
    rows.data()[i] = values[(i * 7 + i / 16) % 7];
  }
  std::copy_n(rows.data(), rows.size(), schedule->parameters().front()->data());
  auto device = cuda::DeepLightTable::mirror(as_deeplight(*schedule));
  for (const Index step : {Index{3}, Index{7}, Index{10}}) {
    INFO("stage step " << step);
    const StepContext ctx{static_cast<std::uint64_t>(step), 0, 0.0, nullptr, step, 10, true};
    cpu->after_step(ctx);
    device.after_step(ctx);
    CHECK(device.rows_to_host() == std::vector<float>(rows.data(), rows.data() + rows.size()));
    // The bits too: a tied -0 that the CPU zeroes becomes +0.
    const auto device_rows = device.rows_to_host();
    CHECK(std::equal(device_rows.begin(), device_rows.end(), rows.data(), [](float a, float b) {
      return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
    }));
  }
  CHECK(zeros_of(device.rows_to_host()) >= static_cast<Index>(rows.size()) / 2);
}

TEST_CASE("cuda deeplight refuses a finalized table and copies its rows back", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_deeplight();
  auto device = cuda::DeepLightTable::mirror(as_deeplight(*cpu));
  check_copy_back_and_bad_input(*cpu, device, "rows");
  cpu->finalize();
  CHECK_THROWS_WITH(cuda::DeepLightTable::mirror(as_deeplight(*cpu)), Catch::Contains("finalized"));
}

}  // namespace embcomp::test
