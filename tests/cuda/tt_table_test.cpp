// The CUDA tt table against the CPU tt table it mirrors, on the same inputs: per-field tables
// (small fields kept full) and one shared table, with and without the cache of hot rows. Built
// twice (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit, as the
// gather tables (gather_table_test): every sum in the CPU's order.
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/tt_table.hpp"
#include "embcomp/methods/tt.hpp"

namespace embcomp::test {
namespace {

// collision_schema: fields of 5000, 40, 3, 700, 1 and 90 ids, d = 16 (dims 2 x 2 x 4). Without
// counts the cache holds ranks 0, 1, 2, ... of the compressed fields, which skewed_ids draws
// often.
const std::vector<std::string> kSpecs = {"tt", "tt:cache=0", "tt:tables=shared",
                                         "tt:tables=shared,cache=0,threshold=0"};

std::unique_ptr<EmbeddingTable> cpu_tt(const std::string& spec, double ratio = 8.0) {
  return make_table(spec, TableArgs(collision_schema(), Budget{ratio}, 3));
}

}  // namespace

TEST_CASE("the tt tables of the cuda tests route through cores full rows and the cache", "[cuda]") {
  const auto table = cpu_tt("tt");
  const auto& per_field = dynamic_cast<const TtTable&>(*table);
  Index compressed = 0;
  for (const kernels::TtLayout& layout : per_field.layouts()) compressed += layout.compressed;
  CHECK(compressed > 0);
  CHECK(compressed < collision_schema().num_fields());
  CHECK_FALSE(per_field.cached_keys().empty());
  const auto shared = cpu_tt("tt:tables=shared");
  CHECK(dynamic_cast<const TtTable&>(*shared).sizing().shared);
}

TEST_CASE("cuda tt looks up what the CPU tt does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_tt(spec);
    auto device = cuda::TtTable::mirror(*cpu);
    check_same_lookups(*cpu, device, {1, 7, 300});
  }
}

TEST_CASE("cuda tt trains as the CPU tt does with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& cpu_optimizer : every_optimizer()) {
      INFO(spec << " with " << cpu_optimizer->name());
      const auto cpu = cpu_tt(spec);
      auto device = cuda::TtTable::mirror(*cpu);
      train_twins(*cpu, *cpu_optimizer, device, cuda::DeviceOptimizer::of(*cpu_optimizer), 6,
                  {64, 5}, 500);
      CHECK(check_same_parameters(*cpu, *cpu_optimizer, device) == device.parameter_names());
      const auto ids = skewed_ids(cpu->schema(), 40, 9);
      CHECK(device_lookup(device, ids, cpu->dim()) == lookup(*cpu, ids));
    }
  }
}

TEST_CASE("cuda tt copies its cores back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_tt("tt");
  auto device = cuda::TtTable::mirror(*cpu);
  check_copy_back_and_bad_input(*cpu, device, "core1");
  CHECK_THROWS_AS(device.rows_to_host("rows"), InvalidArgument);
  CHECK_THROWS_AS(
      cuda::TtTable::mirror(*make_table("hash", TableArgs(collision_schema(), Budget{8.0}, 3))),
      InvalidArgument);
  CHECK_THROWS_AS(device.copy_rows_to(*cpu_tt("tt", 30.0)), InvalidArgument);  // other ranks
}

}  // namespace embcomp::test
