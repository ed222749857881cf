// The CUDA autodim twins against the CPU autodim table they mirror, on the same inputs: the search
// (cuda::AutoDimTable: every candidate's projected rows and BatchNorm, the Gumbel-softmax mix, the
// logits' steps on validation batches) and, after the CPU table chooses the widths, its projected
// fields (cuda::MdeTable with a projection and a bias on every field). Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for bit.
#include <algorithm>
#include <cmath>

#include <catch2/catch.hpp>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/autodim_table.hpp"
#include "embcomp/cuda/mde_table.hpp"
#include "embcomp/methods/autodim.hpp"

namespace embcomp::test {
namespace {

// alpha_lr=0.5 and temperature_decay=1e-3: the logits and the temperature move by much more than
// rounding in a few steps.
const std::string kSpec = "autodim:alpha_lr=0.5,temperature_decay=1e-3";

std::unique_ptr<EmbeddingTable> cpu_autodim(const std::string& options = "") {
  return make_table(kSpec + options, TableArgs(collision_schema(), Budget{4.0}, 3));
}

AutoDimTable& as_autodim(EmbeddingTable& table) {
  return dynamic_cast<AutoDimTable&>(table);
}

/// One validation batch of `batch` samples on both (seed `seed`).
void validation_batch(EmbeddingTable& cpu, cuda::DeviceTable& device, Index batch, unsigned seed) {
  const auto ids = skewed_ids(cpu.schema(), batch, seed);
  const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu.dim()), seed + 1);
  cpu.on_validation_batch(batch_of(ids, cpu.schema()),
                          {dE.data(), static_cast<Index>(ids.size()), cpu.dim()});
  const auto device_ids = DeviceArray<Index>::from(ids);
  const auto device_dE = DeviceArray<float>::from(dE);
  device.on_validation_batch({device_ids.data(), batch, device.fields()}, device_dE.data());
}

/// `steps` search steps as the trainer takes them on both: the training forward (compared), the
/// step, after_step, then a validation batch.
void search_steps(EmbeddingTable& cpu, Optimizer& optimizer, cuda::AutoDimTable& device,
                  const cuda::DeviceOptimizer& rule, unsigned steps, unsigned seed) {
  Gradients grads;
  for (unsigned step = 0; step < steps; ++step) {
    INFO("step " << step);
    const Index batch = step % 2 == 0 ? 64 : 5;
    const auto ids = skewed_ids(cpu.schema(), batch, seed + step);
    const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu.dim()), seed + step);
    // The device ids stay alive from the forward to the step: the twin keeps the forward's
    // BatchNorm caches for the step of the same ids.
    const auto device_ids = DeviceArray<Index>::from(ids);
    const cuda::DeviceIds view{device_ids.data(), batch, device.fields()};
    DeviceArray<float> out(ids.size() * static_cast<std::size_t>(cpu.dim()));
    device.forward(view, out.data());
    CHECK(difference(out.to_host(), cpu_forward(cpu, ids)) == "");
    cpu_step(cpu, optimizer, ids, dE, grads);
    const auto device_dE = DeviceArray<float>::from(dE);
    device.train_step(view, device_dE.data(), rule);
    const StepContext ctx{optimizer.steps(), 0, 0.0, &optimizer};
    cpu.after_step(ctx);
    device.after_step(ctx);
    validation_batch(cpu, device, 48, seed + 100 + step);
  }
}

}  // namespace

TEST_CASE("cuda autodim's search forwards, looks up and trains as the CPU's", "[cuda]") {
  if (!backend_ready()) return;
  for (auto& optimizer : every_optimizer()) {
    INFO(optimizer->name());
    const auto cpu = cpu_autodim();
    const auto source = cpu_autodim();
    auto device = cuda::AutoDimTable::mirror(as_autodim(*source));
    const auto rule = cuda::DeviceOptimizer::of(*optimizer);
    CHECK(device.takes_validation_batches());
    check_same_lookups(*cpu, device);
    const std::vector<float> initial_alpha = device.rows_to_host("alpha");
    search_steps(*cpu, *optimizer, device, rule, 6, 40);
    // Steps without a forward first: the twin forwards again, its running statistics untouched.
    train_twins(*cpu, *optimizer, device, rule, 2, {64, 3}, 70);
    check_same_parameters(*cpu, *optimizer, device);
    check_same_lookups(*cpu, device, {1, 7, 130});
    CHECK(device.rows_to_host("alpha") != initial_alpha);  // the validation batches moved it
    CHECK(device.temperature() == as_autodim(*cpu).temperature());
    CHECK(device.temperature() < 1.0f);
    CHECK(device.mixing_weights() == as_autodim(*cpu).mixing_weights());
    CHECK(device.search_steps() == as_autodim(*cpu).search_steps());
    CHECK(device.samples_seen() == as_autodim(*cpu).samples_seen());
  }
}

TEST_CASE("cuda autodim's chosen fields train as the CPU's after the search", "[cuda]") {
  if (!backend_ready()) return;
  for (const std::string warm_start : {"reference", "folded", "fresh"}) {
    for (auto& optimizer : every_optimizer()) {
      INFO(warm_start << " with " << optimizer->name());
      const auto cpu = cpu_autodim(",warm_start=" + warm_start);
      const auto source = cpu_autodim(",warm_start=" + warm_start);
      auto search = cuda::AutoDimTable::mirror(as_autodim(*source));
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      search_steps(*cpu, *optimizer, search, rule, 3, 10);
      // The next stage: the twin's search goes back to its CPU table, which chooses the widths.
      search.copy_rows_to(*source);
      cpu->begin_stage(1);
      source->begin_stage(1);
      optimizer->reset();
      REQUIRE_FALSE(as_autodim(*source).searching());
      CHECK(as_autodim(*source).chosen_widths() == as_autodim(*cpu).chosen_widths());
      CHECK_THROWS_WITH(cuda::AutoDimTable::mirror(as_autodim(*source)),
                        Catch::Contains("cuda::MdeTable"));
      std::unique_ptr<cuda::DeviceTable> fields = cuda::mirror(*source);
      REQUIRE(dynamic_cast<cuda::MdeTable*>(fields.get()) != nullptr);
      CHECK(fields->method() == "autodim");
      CHECK_FALSE(fields->takes_validation_batches());
      check_same_lookups(*cpu, *fields);
      train_twins(*cpu, *optimizer, *fields, rule, 4, {64, 5}, 20);
      check_same_parameters(*cpu, *optimizer, *fields);
      check_same_lookups(*cpu, *fields, {1, 7, 130});
      // Every field has a projection and a bias (on the full width too: the search's widest
      // candidate is one).
      const auto widths = as_autodim(*cpu).chosen_widths();
      for (Index f = 0; f < cpu->schema().num_fields(); ++f) {
        const std::string name = "field" + std::to_string(f);
        CHECK(fields->rows_to_host(name + ".projection").size() ==
              static_cast<std::size_t>(widths[f] * 16));
        CHECK(fields->rows_to_host(name + ".bias").size() == 16);
      }
    }
  }
}

TEST_CASE("cuda autodim copies its search back and refuses bad input", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_autodim();
  auto device = cuda::AutoDimTable::mirror(as_autodim(*cpu));
  const auto ids = check_copy_back_and_bad_input(*cpu, device, "search4.rows");
  // A validation batch with a bad id or a NaN changes nothing.
  const auto alpha = device.rows_to_host("alpha");
  auto bad = ids;
  bad[3 * 6 + 4] = 1;
  const auto bad_ids = DeviceArray<Index>::from(bad);
  auto values = normal_values(ids.size() * 16, 3);
  const auto dE = DeviceArray<float>::from(values);
  CHECK_THROWS_WITH(device.on_validation_batch({bad_ids.data(), 32, 6}, dE.data()),
                    Catch::Contains("id 1 at position 22 (field 4)"));
  values[40] = std::numeric_limits<float>::quiet_NaN();
  const auto nan = DeviceArray<float>::from(values);
  const auto good_ids = DeviceArray<Index>::from(ids);
  CHECK_THROWS_WITH(device.on_validation_batch({good_ids.data(), 32, 6}, nan.data()),
                    Catch::Contains("row 2, column 8"));
  CHECK(device.rows_to_host("alpha") == alpha);
  // The forward refuses a bad id before any running statistic moves.
  const auto norm = device.rows_to_host("search4.norm");
  DeviceArray<float> out(ids.size() * 16);
  CHECK_THROWS_AS(device.forward({bad_ids.data(), 32, 6}, out.data()), InvalidArgument);
  CHECK(device.rows_to_host("search4.norm") == norm);
  CHECK_THROWS_AS(device.rows_to_host("search3.rows"), InvalidArgument);
  CHECK_THROWS_AS(device.state_span("search3.rows"), InvalidArgument);
  CHECK(device.state_span("search4.norm").count == 0);  // moved by the forward, never stepped
}

TEST_CASE("cuda autodim refuses a step whose BatchNorm gradient overflows, changing nothing",
          "[cuda]") {
  if (!backend_ready()) return;
  // dE finite, scaled up until the candidates' BatchNorm gradients overflow float one after
  // another (from 2^122 here): at every scale the twin steps when the CPU does, and refuses,
  // naming the CPU's candidate and changing nothing, when the CPU refuses.
  int refused = 0;
  for (int exponent = 110; exponent <= 126; ++exponent) {
    INFO("dE scaled by 2^" << exponent);
    Adam optimizer(0.01f);
    const auto cpu = cpu_autodim();
    const auto source = cpu_autodim();
    auto device = cuda::AutoDimTable::mirror(as_autodim(*source));
    const auto rule = cuda::DeviceOptimizer::of(optimizer);
    search_steps(*cpu, optimizer, device, rule, 2, 30);
    const auto ids = skewed_ids(cpu->schema(), 64, 9);
    auto dE = normal_values(ids.size() * 16, 9);
    for (float& v : dE) v = std::ldexp(v, exponent) / 8.0f;
    REQUIRE(std::all_of(dE.begin(), dE.end(), [](float v) { return std::isfinite(v); }));
    Gradients grads;
    std::string cpu_refusal, device_refusal;
    try {
      cpu_step(*cpu, optimizer, ids, dE, grads);
    } catch (const NonFiniteGradient& e) {
      cpu_refusal = e.what();
    }
    try {
      device_step(device, rule, ids, dE);
    } catch (const NonFiniteGradient& e) {
      device_refusal = e.what();
    }
    CHECK(cpu_refusal.empty() == device_refusal.empty());
    if (!cpu_refusal.empty()) {
      ++refused;
      // "gradient of 'search<w>.rows' ...": the twin names the same candidate.
      const auto name = cpu_refusal.find("'search") + 1;
      const std::string candidate = cpu_refusal.substr(name, cpu_refusal.find('.', name) - name);
      CHECK_THAT(device_refusal, Catch::Contains("candidate " + candidate + "'s BatchNorm"));
    }
    check_same_parameters(*cpu, optimizer, device);
  }
  CHECK(refused > 0);
  CHECK(refused < 17);
}
}  // namespace embcomp::test
