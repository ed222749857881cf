// The CUDA pep table against the CPU pep table it mirrors, on the same inputs: the pruning stage
// with each shape of threshold (per entry, row, column, global), many entries inactive, and the
// retrain under the mask. Built twice (tests/cuda/CMakeLists.txt): through the host shim, and on
// the GPU. Bit for bit, as the gather tables (gather_table_test).
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/pep_table.hpp"
#include "embcomp/methods/pep.hpp"

namespace embcomp::test {
namespace {

// threshold_init=-5: sigmoid(-5) = 0.0067, about half the initial |v| (below 1 / sqrt(5000)), so
// about half the entries start inactive.
const std::vector<std::string> kSpecs = {"pep:threshold_init=-5",
                                         "pep:threshold=feature,threshold_init=-5",
                                         "pep:threshold=dimension,threshold_init=-5",
                                         "pep:threshold=global,threshold_init=-5,threshold_lr=3"};

std::unique_ptr<EmbeddingTable> cpu_pep(const std::string& spec) {
  return make_table(spec, TableArgs(collision_schema(), Budget{4.0}, 3));
}

PepTable& as_pep(EmbeddingTable& table) {
  return dynamic_cast<PepTable&>(table);
}

}  // namespace

TEST_CASE("cuda pep looks up what the CPU pep does in both stages", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    INFO(spec);
    const auto cpu = cpu_pep(spec);
    auto device = cuda::PepTable::mirror(as_pep(*cpu));
    CHECK(device.pruning());
    const auto ids = skewed_ids(cpu->schema(), 300, 2);
    const auto looked_up = lookup(*cpu, ids);
    CHECK(std::count(looked_up.begin(), looked_up.end(), 0.0f) > 0);  // some entries inactive
    check_same_lookups(*cpu, device, {1, 7, 300});
    cpu->begin_stage(1);
    auto retrain = cuda::PepTable::mirror(as_pep(*cpu));
    CHECK_FALSE(retrain.pruning());
    check_same_lookups(*cpu, retrain, {1, 7, 300});
  }
}

TEST_CASE("cuda pep trains as the CPU pep does in both stages with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& optimizer : every_optimizer()) {
      INFO(spec << " with " << optimizer->name());
      const auto cpu = cpu_pep(spec);
      const auto source = cpu_pep(spec);
      auto device = cuda::PepTable::mirror(as_pep(*source));
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      train_twins(*cpu, *optimizer, device, rule, 6, {64, 5}, 500);
      CHECK(check_same_parameters(*cpu, *optimizer, device) ==
            std::vector<std::string>{"rows", "threshold"});
      // The sparsity the stage ends by, measured by the CPU table from the twin's rows.
      const StepContext validating{optimizer->steps(), 0, 0.0, optimizer.get(), 6, 100, true};
      cpu->after_step(validating);
      device.after_step(validating);
      CHECK(as_pep(*source).sparsity() == as_pep(*cpu).sparsity());
      CHECK(as_pep(*cpu).sparsity() > 0.0);
      // The retrain under the mask each CPU table builds from the same rows.
      cpu->begin_stage(1);
      source->begin_stage(1);
      optimizer->reset();
      auto retrain = cuda::PepTable::mirror(as_pep(*source));
      train_twins(*cpu, *optimizer, retrain, rule, 6, {64, 5}, 900);
      for (const Parameter* p : std::as_const(*cpu).parameters()) {
        INFO(p->name());
        CHECK(retrain.rows_to_host(p->name()) ==
              std::vector<float>(p->data(), p->data() + p->size()));
        // The threshold is not stepped in the retrain: no state on either side.
        const std::vector<float>* state = optimizer->state(*p);
        CHECK(retrain.state_to_host(p->name()) ==
              (state == nullptr ? std::vector<float>{} : *state));
      }
      CHECK(retrain.steps() == optimizer->steps());
      const auto ids = skewed_ids(cpu->schema(), 40, 9);
      CHECK(device_lookup(retrain, ids, cpu->dim()) == lookup(*cpu, ids));
    }
  }
}

TEST_CASE("cuda pep copies its rows back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_pep(kSpecs[0]);
  auto device = cuda::PepTable::mirror(as_pep(*cpu));
  check_copy_back_and_bad_input(*cpu, device, "rows");
  CHECK_THROWS_AS(device.rows_to_host("cores"), InvalidArgument);
  cpu->begin_stage(1);
  auto retrain = cuda::PepTable::mirror(as_pep(*cpu));
  CHECK(retrain.rows_to_host("threshold").size() == 1);  // the CPU table's unused [1 x 1]
  CHECK(retrain.state_to_host("threshold").empty());
  cpu->finalize();
  CHECK_THROWS_WITH(cuda::PepTable::mirror(as_pep(*cpu)), Catch::Contains("finalized"));
}

}  // namespace embcomp::test
