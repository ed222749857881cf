// cuda::mirror (cuda/src/mirror.cpp): the twin of every registered method that has one, used
// through the DeviceTable interface, and a clear refusal naming every other. Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU.
#include <catch2/catch.hpp>

#include <set>

#include "cuda/device_support.hpp"

namespace embcomp::test {
namespace {

const std::set<std::string> kTwins = {"full",     "int8",  "int16",     "alpt", "hash",
                                      "adaembed", "dedup", "deeplight", "qr",   "mde",
                                      "robe",     "cafe",  "cafe-ml"};

/// The method at the highest of 10x, 4x, 2x, 1x it reaches on the collision schema.
std::unique_ptr<EmbeddingTable> feasible_table(const std::string& key) {
  for (const double ratio : {10.0, 4.0, 2.0}) {
    try {
      return make_table(key, TableArgs(collision_schema(), Budget{ratio}, 5));
    } catch (const InfeasibleBudget&) {
    }
  }
  return make_table(key, TableArgs(collision_schema(), Budget{1.0}, 5));
}

}  // namespace

TEST_CASE("cuda::mirror makes the twin of every method that has one and names the others",
          "[cuda]") {
  if (!backend_ready()) return;
  std::set<std::string> mirrored;
  for (const MethodInfo& info : methods()) {
    INFO(info.key);
    const auto cpu = feasible_table(info.key);
    if (!kTwins.contains(info.key)) {
      CHECK_THROWS_WITH(cuda::mirror(*cpu),
                        Catch::Contains("'" + info.key + "'") && Catch::Contains("cafe-ml"));
      continue;
    }
    // The twin of a second table built alike (cafe's twin routes through the table it mirrors).
    const auto source = feasible_table(info.key);
    std::unique_ptr<cuda::DeviceTable> twin = cuda::mirror(*source);
    CHECK(twin->method() == info.key);
    CHECK(twin->dim() == cpu->dim());
    check_same_lookups(*cpu, *twin);
    // Through the interface: one step, then every parameter back into the CPU table.
    auto sgd = Sgd(0.5f);
    train_twins(*cpu, sgd, *twin, cuda::DeviceOptimizer::of(sgd), 1, {32}, 7);
    const bool codes = info.key == "int8" || info.key == "int16" || info.key == "alpt";
    if (!codes) check_same_parameters(*cpu, sgd, *twin);  // codes: gather_table_test decodes them
    CHECK_THROWS_AS(twin->rows_to_host("no such parameter"), InvalidArgument);
    mirrored.insert(info.key);
  }
  CHECK(mirrored == kTwins);
}

}  // namespace embcomp::test
