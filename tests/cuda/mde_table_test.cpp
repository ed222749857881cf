// The CUDA mde table against the CPU mde table it mirrors, on the same inputs: fields at the
// full width beside projected ones, widths that are and are not powers of two. Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit, as the gather
// tables (gather_table_test), the projections included (mde_table.hpp says why they agree).
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/mde_table.hpp"
#include "embcomp/methods/mde.hpp"

namespace embcomp::test {
namespace {

// On collision_schema at 8x: widths 16 (the 1-id field, unprojected) down to 1.
const std::vector<std::string> kSpecs = {"mde", "mde:round_dim=false", "mde:alpha=0.6"};

std::unique_ptr<EmbeddingTable> cpu_mde(const std::string& spec) {
  return make_table(spec, TableArgs(collision_schema(), Budget{8.0}, 3));
}

}  // namespace

TEST_CASE("the mde tables of the cuda tests have projected and unprojected fields", "[cuda]") {
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_mde(spec);
    const auto& dims = dynamic_cast<const MdeTable&>(*cpu).sizing().dims;
    CHECK(std::count(dims.begin(), dims.end(), cpu->dim()) >= 1);
    CHECK(std::count_if(dims.begin(), dims.end(), [&](Index d) { return d < cpu->dim(); }) >= 3);
  }
  const auto unrounded = cpu_mde(kSpecs[1]);
  const auto& odd = dynamic_cast<const MdeTable&>(*unrounded).sizing().dims;
  CHECK(std::any_of(odd.begin(), odd.end(), [](Index d) { return (d & (d - 1)) != 0; }));
}

TEST_CASE("cuda mde looks up what the CPU mde does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_mde(spec);
    check_same_lookups(*cpu, cuda::MdeTable::mirror(*cpu));
  }
}

TEST_CASE("cuda mde trains as the CPU mde does with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& cpu_optimizer : every_optimizer()) {
      INFO(spec << " with " << cpu_optimizer->name());
      const auto cpu = cpu_mde(spec);
      auto device = cuda::MdeTable::mirror(*cpu);
      train_twins(*cpu, *cpu_optimizer, device, cuda::DeviceOptimizer::of(*cpu_optimizer), 6,
                  {64, 7}, 300);
      const auto compared = check_same_parameters(*cpu, *cpu_optimizer, device);
      CHECK(std::count_if(compared.begin(), compared.end(), [](const std::string& name) {
              return name.ends_with(".projection");
            }) >= 3);
      const auto ids = skewed_ids(cpu->schema(), 40, 9);
      CHECK(device_lookup(device, ids, cpu->dim()) == lookup(*cpu, ids));
    }
  }
}

TEST_CASE("cuda mde copies its tables back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_mde("mde");
  auto device = cuda::MdeTable::mirror(*cpu);
  const auto ids = check_copy_back_and_bad_input(*cpu, device, "field0.projection");
  const auto trained = device.rows_to_host("field0.projection");
  // Its state is SGD's (none): another optimizer cannot take over.
  CHECK_THROWS_WITH(device_step(device, {cuda::DeviceOptimizer::Kind::rowwise_adagrad, 0.5f}, ids,
                                normal_values(ids.size() * 16, 8)),
                    Catch::Contains("stepped by rowwise_adagrad after another optimizer"));
  CHECK(device.rows_to_host("field0.projection") == trained);
  CHECK(device.steps() == 1);
  CHECK_THROWS_AS(device.rows_to_host("field4.projection"), InvalidArgument);  // d_f = D there
  CHECK_THROWS_AS(device.rows_to_host("field9.rows"), InvalidArgument);
  CHECK_THROWS_AS(
      cuda::MdeTable::mirror(*make_table("hash", TableArgs(collision_schema(), Budget{8.0}, 3))),
      InvalidArgument);
  CHECK_THROWS_AS(device.copy_rows_to(*cpu_mde("mde:round_dim=false")), InvalidArgument);
}

}  // namespace embcomp::test
