// The CUDA qr table against the CPU qr table it mirrors, on the same inputs, for every op and
// with full (unhashed) fields beside compressed ones. Built twice (tests/cuda/CMakeLists.txt):
// through the host shim, and on the GPU. Bit for bit, as the gather tables (gather_table_test).
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/qr_table.hpp"

namespace embcomp::test {
namespace {

// Fields of n_f <= threshold keep a full table (40, 3 and 1 ids at 40; 90 too at 100).
const std::vector<std::string> kSpecs = {"qr", "qr:op=add", "qr:op=concat",
                                         "qr:op=mul,threshold=40", "qr:op=concat,threshold=100"};

std::unique_ptr<EmbeddingTable> cpu_qr(const std::string& spec) {
  return make_table(spec, TableArgs(collision_schema(), Budget{8.0}, 3));
}

}  // namespace

TEST_CASE("cuda qr looks up what the CPU qr does", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_qr(spec);
    check_same_lookups(*cpu, cuda::QrTable::mirror(*cpu));
  }
}

TEST_CASE("cuda qr trains as the CPU qr does with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& cpu_optimizer : every_optimizer()) {
      INFO(spec << " with " << cpu_optimizer->name());
      const auto cpu = cpu_qr(spec);
      auto device = cuda::QrTable::mirror(*cpu);
      train_twins(*cpu, *cpu_optimizer, device, cuda::DeviceOptimizer::of(*cpu_optimizer), 6, {64},
                  200);
      CHECK(check_same_parameters(*cpu, *cpu_optimizer, device).size() >= 2);
    }
  }
}

TEST_CASE("cuda qr copies its tables back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_qr("qr:op=mul,threshold=40");
  auto device = cuda::QrTable::mirror(*cpu);
  const auto ids = check_copy_back_and_bad_input(*cpu, device, "quotient");
  const auto trained = device.rows_to_host("quotient");
  // Its state is SGD's (none): another optimizer cannot take over.
  CHECK_THROWS_WITH(device_step(device, {cuda::DeviceOptimizer::Kind::rowwise_adagrad, 0.5f}, ids,
                                normal_values(ids.size() * 16, 8)),
                    Catch::Contains("cuda::QrTable (qr) stepped by rowwise_adagrad after another "
                                    "optimizer"));
  CHECK(device.rows_to_host("quotient") == trained);
  CHECK(device.steps() == 1);
  CHECK_THROWS_AS(device.rows_to_host("rows"), InvalidArgument);
  CHECK_THROWS_AS(
      cuda::QrTable::mirror(*make_table("hash", TableArgs(collision_schema(), Budget{8.0}, 3))),
      InvalidArgument);
  CHECK_THROWS_AS(device.copy_rows_to(*cpu_qr("qr:op=concat")), InvalidArgument);  // other widths
}

}  // namespace embcomp::test
