// The CUDA optembed twins against the CPU optembed table they mirror, on the same inputs: the
// supernet (cuda::OptEmbedTable: masked training forward, surrogate gradients, the thresholds'
// own SGD, the regulariser) and, after the CPU table's search, its kept rows
// (cuda::KeptRowsTable: per-field widths below d, pruned ids, every id-set encoding). Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit, as the gather
// tables (gather_table_test).
#include <catch2/catch.hpp>

#include <set>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/kept_rows_table.hpp"
#include "embcomp/cuda/optembed_table.hpp"
#include "embcomp/methods/optembed.hpp"

namespace embcomp::test {
namespace {

// threshold_lr=0.5 and alpha=0.01: the thresholds move by much more than rounding in a few steps.
const std::string kSpec = "optembed:threshold_lr=0.5,alpha=0.01,generations=2";

std::unique_ptr<EmbeddingTable> cpu_optembed(double ratio = 4.0, const std::string& options = "") {
  return make_table(kSpec + options, TableArgs(collision_schema(), Budget{ratio}, 3));
}

OptEmbedTable& as_optembed(EmbeddingTable& table) {
  return dynamic_cast<OptEmbedTable&>(table);
}

/// The CPU table after its search (no validation: scored by the kept L1 mass), in the retrain.
void search(EmbeddingTable& table) {
  table.begin_stage(1);
  table.begin_stage(2);
  REQUIRE_FALSE(as_optembed(table).searching());
}

}  // namespace

TEST_CASE("cuda optembed's supernet looks up and forwards what the CPU's does", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_optembed();
  auto device = cuda::OptEmbedTable::mirror(as_optembed(*cpu));
  check_same_lookups(*cpu, device, {1, 7, 300});
  for (const Index batch : {1, 64, 300}) {
    INFO("batch " << batch);
    const auto ids = skewed_ids(cpu->schema(), batch, 4);
    const auto forwarded = cpu_forward(*cpu, ids);
    CHECK(forwarded != lookup(*cpu, ids));  // the masks cut entries
    CHECK(device_forward(device, ids, cpu->dim()) == forwarded);
  }
}

TEST_CASE("cuda optembed's supernet trains as the CPU's with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (auto& optimizer : every_optimizer()) {
    INFO(optimizer->name());
    const auto cpu = cpu_optembed();
    const auto source = cpu_optembed();
    auto device = cuda::OptEmbedTable::mirror(as_optembed(*source));
    const std::vector<float> initial_thresholds = device.rows_to_host("threshold");
    const auto rule = cuda::DeviceOptimizer::of(*optimizer);
    train_twins(*cpu, *optimizer, device, rule, 6, {64, 5}, 500);
    const std::vector<std::string> compared = check_same_parameters(*cpu, *optimizer, device);
    CHECK(static_cast<Index>(compared.size()) == 2 + cpu->schema().num_fields());  // + placeholders
    CHECK(device.rows_to_host("threshold") != initial_thresholds);
    CHECK(device.supernet_steps() == as_optembed(*cpu).supernet_steps());
    CHECK(device.auxiliary_loss() == cpu->auxiliary_loss());
    // The masks of the next step draw from the same counter.
    const auto ids = skewed_ids(cpu->schema(), 64, 77);
    CHECK(device_forward(device, ids, cpu->dim()) == cpu_forward(*cpu, ids));
    // Some rows' masks closed during training: their lookups are zero on both sides.
    CHECK(device_lookup(device, ids, cpu->dim()) == lookup(*cpu, ids));
  }
}

TEST_CASE("cuda optembed's kept rows look up and train as the CPU's with every optimizer",
          "[cuda]") {
  if (!backend_ready()) return;
  // 4x from random candidates and 20x: kept fields narrower than d, and sets of every encoding.
  std::set<kernels::HotSet> encodings;
  for (const auto& [ratio, options] :
       std::vector<std::pair<double, std::string>>{{4.0, ",initial=random"}, {20.0, ""}}) {
    for (auto& optimizer : every_optimizer()) {
      INFO(ratio << "x" << options << " with " << optimizer->name());
      const auto cpu = cpu_optembed(ratio, options);
      const auto source = cpu_optembed(ratio, options);
      search(*cpu);
      search(*source);
      const KeptRows& kept = as_optembed(*cpu).kept();
      Index pruned_fields = 0, narrow_fields = 0;
      for (Index f = 0; f < kept.fields(); ++f) {
        encodings.insert(static_cast<kernels::HotSet>(kept.field(f).set));
        pruned_fields += kept.field(f).kept < cpu->schema().cardinalities[f];
        narrow_fields += kept.field(f).kept > 0 && kept.field(f).width < cpu->dim();
      }
      CHECK(pruned_fields > 0);
      CHECK(narrow_fields > 0);
      auto device = cuda::KeptRowsTable::mirror(as_optembed(*source));
      check_same_lookups(*cpu, device, {1, 7, 300});
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      train_twins(*cpu, *optimizer, device, rule, 6, {64, 5}, 900);
      check_same_parameters(*cpu, *optimizer, device);
      check_same_lookups(*cpu, device, {1, 7, 300});
    }
  }
  CHECK(encodings.size() == 3);
}

TEST_CASE("cuda optembed's twins copy their rows back and refuse bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_optembed();
  auto supernet = cuda::OptEmbedTable::mirror(as_optembed(*cpu));
  check_copy_back_and_bad_input(*cpu, supernet, "rows");
  CHECK_THROWS_WITH(cuda::KeptRowsTable::mirror(as_optembed(*cpu)),
                    Catch::Contains("has not searched"));
  CHECK_THROWS_AS(supernet.rows_to_host("field9.rows"), InvalidArgument);
  search(*cpu);
  CHECK_THROWS_WITH(cuda::OptEmbedTable::mirror(as_optembed(*cpu)),
                    Catch::Contains("has searched"));
  CHECK_THROWS_AS(supernet.copy_rows_to(*cpu), InvalidArgument);  // no supernet any more
  auto kept = cuda::KeptRowsTable::mirror(as_optembed(*cpu));
  check_copy_back_and_bad_input(*cpu, kept, "field0.rows");
  CHECK(kept.rows_to_host("threshold").size() == 1);  // the emptied supernet's [1 x 1]
  CHECK(kept.state_to_host("threshold").empty());
  CHECK_THROWS_AS(kept.rows_to_host("field6.rows"), InvalidArgument);
  CHECK_THROWS_AS(kept.rows_to_host("fieldx.rows"), InvalidArgument);
}

}  // namespace embcomp::test
