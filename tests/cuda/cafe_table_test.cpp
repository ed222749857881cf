// The CUDA cafe table against the CPU cafe table, on the same inputs: two CPU tables built
// alike, one trained on the CPU, the other routing for its device twin. Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit: the rows,
// hot rows and level rows, their optimizer state, and the sketches (in the checkpoint bytes).
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/cafe_table.hpp"

namespace embcomp::test {
namespace {

// Promotions within a few steps: a low fixed threshold with frequency importance, the default
// (gradient importance, the per-ratio threshold), the reference layout, per-field sketches,
// and cafe-ml with its extra levels.
const std::vector<std::string> kSpecs = {
    "cafe:threshold=6,importance=frequency", "cafe:threshold=2",
    "cafe:layout=reference,threshold=3",     "cafe:sketch=per_field,threshold=3",
    "cafe-ml:threshold=3,levels=3",
};

std::unique_ptr<EmbeddingTable> cpu_cafe(const std::string& spec) {
  return make_table(spec, TableArgs(collision_schema(), Budget{10.0}, 3));
}

double statistic(const EmbeddingTable& table, const std::string& name) {
  for (const TableStatistic& s : table.statistics()) {
    if (s.name == name) return s.value;
  }
  return -1.0;
}

}  // namespace

TEST_CASE("cuda cafe looks up what the CPU cafe does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_cafe(spec);
    check_same_lookups(*cpu, cuda::CafeTable::mirror(*cpu));
  }
}

TEST_CASE("cuda cafe trains, inserts and promotes as the CPU cafe does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& cpu_optimizer : every_optimizer()) {
      INFO(spec << " with " << cpu_optimizer->name());
      const auto cpu = cpu_cafe(spec);
      const auto router = cpu_cafe(spec);
      auto device = cuda::CafeTable::mirror(*router);
      train_twins(*cpu, *cpu_optimizer, device, cuda::DeviceOptimizer::of(*cpu_optimizer), 8,
                  {64, 9}, 400);
      CHECK(statistic(*cpu, "hot_rows_in_use") >= 4);  // promotions happened
      check_same_parameters(*cpu, *cpu_optimizer, device);
      device.copy_rows_to(*router);
      CHECK(checkpoint(*router) == checkpoint(*cpu));  // the sketches too
      const auto ids = skewed_ids(cpu->schema(), 40, 9);
      CHECK(device_lookup(device, ids, cpu->dim()) == lookup(*cpu, ids));
    }
  }
}

TEST_CASE("cuda cafe refuses bad input and changes nothing", "[cuda]") {
  if (!backend_ready()) return;
  const auto router = cpu_cafe("cafe:threshold=2");
  auto device = cuda::CafeTable::mirror(*router);
  const cuda::DeviceOptimizer adam{cuda::DeviceOptimizer::Kind::adam, 0.01f};
  const auto ids = skewed_ids(router->schema(), 32, 5);
  device_step(device, adam, ids, normal_values(ids.size() * 16, 6));
  device.copy_rows_to(*router);
  const std::string before = checkpoint(*router);
  const auto state = device.state_to_host("rows");

  auto bad = ids;
  bad[3 * 6 + 4] = 1;  // field 4 has one id
  CHECK_THROWS_WITH(device_step(device, adam, bad, normal_values(ids.size() * 16, 7)),
                    Catch::Contains("id 1 at position 22 (field 4)"));
  auto nan = normal_values(ids.size() * 16, 7);
  nan[77] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(device_step(device, adam, ids, nan), NonFiniteGradient);
  device.copy_rows_to(*router);
  CHECK(checkpoint(*router) == before);  // rows, hot rows and sketches
  CHECK(device.state_to_host("rows") == state);
  CHECK(device.steps() == 1);
  CHECK_THROWS_AS(device.rows_to_host("quotient"), InvalidArgument);
  auto hash = make_table("hash", TableArgs(collision_schema(), Budget{10.0}, 3));
  CHECK_THROWS_AS(cuda::CafeTable::mirror(*hash), InvalidArgument);
  CHECK_THROWS_AS(device.copy_rows_to(*hash), InvalidArgument);
}

}  // namespace embcomp::test
