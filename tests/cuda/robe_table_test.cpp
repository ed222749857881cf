// The CUDA robe table against the CPU robe table it mirrors, on the same inputs: one and several
// chunks, with and without the field terms, arrays small enough that windows overlap and wrap
// around the end. Built twice (tests/cuda/CMakeLists.txt): through the host shim, and on the
// GPU. Bit for bit, as the gather tables (gather_table_test).
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/robe_table.hpp"
#include "embcomp/methods/robe.hpp"

namespace embcomp::test {
namespace {

// At 40x the array holds 2,333 cells for 5,834 rows x 16: every cell is read by many ids.
const std::vector<std::string> kSpecs = {"robe", "robe:chunks=4", "robe:chunks=2,slot=true",
                                         "robe:chunks=16"};

std::unique_ptr<EmbeddingTable> cpu_robe(const std::string& spec, double ratio = 40.0) {
  return make_table(spec, TableArgs(collision_schema(), Budget{ratio}, 3));
}

}  // namespace

TEST_CASE("cuda robe looks up what the CPU robe does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_robe(spec);
    auto device = cuda::RobeTable::mirror(*cpu);
    CHECK(device.size() == dynamic_cast<const RobeTable&>(*cpu).size());
    check_same_lookups(*cpu, device, {1, 7, 300});
  }
}

TEST_CASE("cuda robe trains as the CPU robe does with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& cpu_optimizer : every_optimizer()) {
      INFO(spec << " with " << cpu_optimizer->name());
      const auto cpu = cpu_robe(spec);
      auto device = cuda::RobeTable::mirror(*cpu);
      train_twins(*cpu, *cpu_optimizer, device, cuda::DeviceOptimizer::of(*cpu_optimizer), 6,
                  {64, 5}, 500);
      CHECK(check_same_parameters(*cpu, *cpu_optimizer, device) ==
            std::vector<std::string>{"array"});
      const auto ids = skewed_ids(cpu->schema(), 40, 9);
      CHECK(device_lookup(device, ids, cpu->dim()) == lookup(*cpu, ids));
    }
  }
}

TEST_CASE("cuda robe copies its array back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_robe("robe:chunks=4");
  auto device = cuda::RobeTable::mirror(*cpu);
  check_copy_back_and_bad_input(*cpu, device, "array");
  CHECK_THROWS_AS(device.rows_to_host("rows"), InvalidArgument);
  CHECK_THROWS_AS(
      cuda::RobeTable::mirror(*make_table("hash", TableArgs(collision_schema(), Budget{8.0}, 3))),
      InvalidArgument);
  CHECK_THROWS_AS(device.copy_rows_to(*cpu_robe("robe", 20.0)), InvalidArgument);  // other size
}

}  // namespace embcomp::test
