// cuda::mirror (cuda/src/mirror.cpp): the twin of every registered method that has one, used
// through the DeviceTable interface, and a clear refusal naming every other. Built twice
// (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "cuda/device_support.hpp"

namespace embcomp::test {
namespace {

// clang-format off
const std::set<std::string> kTwins = {"full", "int8", "int16", "alpt", "hash", "adaembed", "dedup",
                                      "deeplight", "pep", "autosrh", "optembed", "dpq", "mgqe", "autodim",
                                      "qr", "mde", "robe", "tt", "dhe", "cafe", "cafe-ml"};
// clang-format on

/// Every twin agrees with its CPU table bit for bit in host mode; on a GPU dhe agrees within
/// rounding (cuBLAS's products; dhe_table_test states the tolerance).
bool bit_for_bit(const std::string& key) {
  return cuda::host_shim() || key != "dhe";
}

/// Requires the lookups `a` and `b` equal, or within 1e-4 of their scale where `key`'s twin
/// agrees within rounding.
void check_agree(const std::vector<float>& a, const std::vector<float>& b, const std::string& key) {
  if (bit_for_bit(key)) {
    CHECK(a == b);
    return;
  }
  require_close(a, b, "lookups", 1e-4);
}

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
    const auto ids = skewed_ids(cpu->schema(), 130, 1);
    check_agree(device_lookup(*twin, ids, cpu->dim()), lookup(*cpu, ids), info.key);
    // Through the interface: one step, then every parameter back into the CPU table.
    auto sgd = Sgd(0.5f);
    train_twins(*cpu, sgd, *twin, cuda::DeviceOptimizer::of(sgd), 1, {32}, 7);
    const bool codes = info.key == "int8" || info.key == "int16" || info.key == "alpt";
    // codes: gather_table_test decodes them; dhe on a GPU: dhe_table_test, within rounding
    if (!codes && bit_for_bit(info.key)) check_same_parameters(*cpu, sgd, *twin);
    check_agree(device_lookup(*twin, ids, cpu->dim()), lookup(*cpu, ids), info.key);
    CHECK_THROWS_AS(twin->rows_to_host("no such parameter"), InvalidArgument);
    mirrored.insert(info.key);
  }
  CHECK(mirrored == kTwins);
  // Every registered method has a twin; a table of another class, such as a serving form, is
  // refused by name.
  const auto served = feasible_table("dpq")->freeze();
  INFO("served spec '" << served->spec() << "'");
  CHECK_THROWS_WITH(cuda::mirror(*served),
                    Catch::Contains("has no CUDA twin") && Catch::Contains("cafe-ml"));
}

TEST_CASE("every twin takes host batches and carries its optimizer state over", "[cuda]") {
  if (!backend_ready()) return;
  for (const std::string& key : kTwins) {
    INFO(key);
    const auto cpu = feasible_table(key);
    const auto source = feasible_table(key);
    std::unique_ptr<cuda::DeviceTable> twin = cuda::mirror(*source);
    Adam adam(0.01f);
    const auto rule = cuda::DeviceOptimizer::of(adam);
    train_twins(*cpu, adam, *twin, rule, 2, {32}, 3);
    // EmbeddingTable's host-batch forms: the same lookups and step as the device batches'.
    const auto ids = skewed_ids(cpu->schema(), 40, 11);
    const IdBatch batch = batch_of(ids, cpu->schema());
    const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu->dim()), 12);
    Gradients grads;
    cpu_step(*cpu, adam, ids, dE, grads);
    cpu->after_step({adam.steps(), 0, 0.0, &adam});
    twin->train_step_host(batch, {dE.data(), batch.size(), cpu->dim()}, rule);
    twin->after_step({adam.steps(), 0, 0.0, &adam});
    std::vector<float> out(ids.size() * static_cast<std::size_t>(cpu->dim()));
    twin->lookup_host(batch, {out.data(), batch.size(), cpu->dim()});
    check_agree(out, lookup(*cpu, ids), key);
    CHECK_THROWS_WITH(twin->lookup_host(batch, {out.data(), batch.size(), cpu->dim() + 1}),
                      Catch::Contains("expected [B x"));
    // A twin made mid-run, from the table's checkpoint (with cafe's sketches) and the state and
    // step count its optimizer would hold, continues as this one.
    twin->copy_rows_to(*source);
    std::istringstream saved(checkpoint(*source));
    const auto host = load_table(saved);
    std::unique_ptr<cuda::DeviceTable> resumed = cuda::mirror(*host);
    for (const Parameter* p : std::as_const(*host).parameters()) {
      if (!p->optimized()) continue;
      const std::vector<float> state = twin->state_to_host(p->name());
      resumed->state_from_host(p->name(), state, rule);
      CHECK(resumed->state_to_host(p->name()) == state);
      if (!state.empty()) {
        CHECK_THROWS_WITH(
            resumed->state_from_host(p->name(), {state.data(), state.size() - 1}, rule),
            Catch::Contains("values on the device"));
      }
    }
    resumed->set_steps(twin->steps());
    const auto next = skewed_ids(cpu->schema(), 24, 13);
    const auto next_dE = normal_values(next.size() * static_cast<std::size_t>(cpu->dim()), 14);
    device_step(*twin, rule, next, next_dE);
    device_step(*resumed, rule, next, next_dE);
    CHECK(device_lookup(*resumed, ids, cpu->dim()) == device_lookup(*twin, ids, cpu->dim()));
  }
}

}  // namespace embcomp::test
