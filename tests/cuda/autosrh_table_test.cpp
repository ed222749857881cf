// The CUDA autosrh table against the CPU autosrh table it mirrors, on the same inputs: the
// warmup, the search (training steps scaled by alpha, validation batches stepping alpha) and the
// retrain under the mask the CPU table builds from the folded weights, for both orders. Built
// twice (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit.
#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/autosrh_table.hpp"
#include "embcomp/methods/autosrh.hpp"

namespace embcomp::test {
namespace {

// alpha_lr=0.05: alpha moves by much more than rounding in a few validation batches.
const std::vector<std::string> kSpecs = {"autosrh:alpha_lr=0.05",
                                         "autosrh:alpha_lr=0.05,groups=3,order=reference,warmup=0"};

std::unique_ptr<EmbeddingTable> cpu_autosrh(const std::string& spec) {
  return make_table(spec, TableArgs(collision_schema(), Budget{4.0}, 3));
}

AutoSrhTable& as_autosrh(EmbeddingTable& table) {
  return dynamic_cast<AutoSrhTable&>(table);
}

/// The CPU table and the twin enter the next stage: the twin's rows go to the CPU table, which
/// begins it (folding alpha, building the mask), and a new twin mirrors it.
void next_stage(EmbeddingTable& cpu, EmbeddingTable& source, cuda::AutoSrhTable& device,
                Optimizer& optimizer) {
  const std::size_t next = cpu.stage() + 1;
  cpu.begin_stage(next);
  device.copy_rows_to(source);
  source.begin_stage(next);
  optimizer.reset();
  device = cuda::AutoSrhTable::mirror(as_autosrh(source));
}

/// `steps` training steps on both, each followed by a validation batch where the stage feeds
/// them.
void train_stage(EmbeddingTable& cpu, Optimizer& optimizer, cuda::AutoSrhTable& device,
                 const cuda::DeviceOptimizer& rule, unsigned seed) {
  const bool validating = cpu.stages()[cpu.stage()].uses_validation;
  CHECK(device.takes_validation_batches() == validating);
  train_twins(cpu, optimizer, device, rule, 3, {64, 5}, seed);
  if (!validating) return;
  for (unsigned batch = 0; batch < 3; ++batch) {
    const auto ids = skewed_ids(cpu.schema(), 48, seed + 100 + batch);
    const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu.dim()), batch + 50);
    cpu.on_validation_batch(batch_of(ids, cpu.schema()),
                            {dE.data(), static_cast<Index>(ids.size()), cpu.dim()});
    const auto device_ids = DeviceArray<Index>::from(ids);
    const auto device_dE = DeviceArray<float>::from(dE);
    device.on_validation_batch({device_ids.data(), 48, device.fields()}, device_dE.data());
    train_twins(cpu, optimizer, device, rule, 1, {64}, seed + 200 + batch);
  }
}

}  // namespace

TEST_CASE("cuda autosrh looks up and trains as the CPU autosrh in every stage", "[cuda]") {
  if (!backend_ready()) return;
  for (const auto& spec : kSpecs) {
    for (auto& optimizer : every_optimizer()) {
      INFO(spec << " with " << optimizer->name());
      const auto cpu = cpu_autosrh(spec);
      const auto source = cpu_autosrh(spec);
      auto device = cuda::AutoSrhTable::mirror(as_autosrh(*source));
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      const std::vector<float> initial_alpha = device.rows_to_host("alpha");
      for (std::size_t stage = 0; stage < cpu->stages().size(); ++stage) {
        INFO("stage " << cpu->stages()[stage].name);
        if (stage > 0) next_stage(*cpu, *source, device, *optimizer);
        train_stage(*cpu, *optimizer, device, rule, 300 + 10 * static_cast<unsigned>(stage));
        CHECK(check_same_parameters(*cpu, *optimizer, device) ==
              std::vector<std::string>{"rows", "alpha"});
        check_same_lookups(*cpu, device, {1, 7, 300});
      }
      CHECK(device.rows_to_host("alpha") != initial_alpha);  // the search moved it
      const bool prune_first = spec.find("order=reference") == std::string::npos;
      CHECK(as_autosrh(*cpu).mask_words().empty() != prune_first);
    }
  }
}

TEST_CASE("cuda autosrh copies its rows back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_autosrh(kSpecs[0]);
  auto device = cuda::AutoSrhTable::mirror(as_autosrh(*cpu));
  const auto ids = check_copy_back_and_bad_input(*cpu, device, "rows");
  // The warmup feeds no validation batches.
  const auto device_ids = DeviceArray<Index>::from(ids);
  const auto dE = DeviceArray<float>::from(normal_values(ids.size() * 16, 3));
  CHECK_THROWS_WITH(device.on_validation_batch({device_ids.data(), 32, 6}, dE.data()),
                    Catch::Contains("validation batches"));
  cpu->finalize();
  CHECK_THROWS_WITH(cuda::AutoSrhTable::mirror(as_autosrh(*cpu)), Catch::Contains("finalized"));
}

}  // namespace embcomp::test
