// The CUDA product quantizers (cuda::PqTable) against the CPU dpq and mgqe tables they mirror, on
// the same inputs: lookups of the stored codes, training forwards (the codes they store, the
// regulariser), and steps of every optimizer (queries, centroids, state). dpq per-part and shared
// centroids, codes that span words; mgqe with the prefix split and the bitset split that counts
// give. Built twice (tests/cuda/CMakeLists.txt): through the host shim, and on the GPU. Bit for
// bit in host mode.
#include <catch2/catch.hpp>

#include <sstream>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/pq_table.hpp"
#include "embcomp/methods/dpq.hpp"
#include "embcomp/methods/mgqe.hpp"

namespace embcomp::test {
namespace {

struct Case {
  std::string spec;
  bool counts = false;  ///< training-split counts that scramble the frequency order (mgqe: bitset)
};

const std::vector<Case> kCases = {{"dpq"},
                                  {"dpq:shared=true,centroids=16"},
                                  {"dpq:parts=4,centroids=5"},  // 3-bit codes: some span two words
                                  {"mgqe:groups=ranks,high_centroids=32,low_centroids=4"},
                                  {"mgqe:high_centroids=16,low_centroids=2,top_percent=0.3", true}};

/// counts[f][id] = (37 id + 11) mod n_f, so a field's frequent ids are not its first ones.
std::shared_ptr<const IdCounts> scrambled_counts(const Schema& schema) {
  auto counts = std::make_shared<IdCounts>();
  for (const Index n : schema.cardinalities) {
    auto& c = counts->emplace_back(static_cast<std::size_t>(n));
    for (Index id = 0; id < n; ++id)
      c[static_cast<std::size_t>(id)] = static_cast<std::uint64_t>((37 * id + 11) % n);
  }
  return counts;
}

std::unique_ptr<EmbeddingTable> cpu_pq(const Case& c) {
  const Schema schema = collision_schema();
  return make_table(
      c.spec, TableArgs(schema, Budget{8.0}, 3, c.counts ? scrambled_counts(schema) : nullptr));
}

StraightThroughPq& as_pq(EmbeddingTable& table) {
  return dynamic_cast<StraightThroughPq&>(table);
}

/// The twin's codes against the CPU table's, group by group.
void check_same_codes(StraightThroughPq& cpu, const cuda::PqTable& device) {
  const auto arrays = cpu.grouped_codes()->arrays;
  for (std::size_t g = 0; g < arrays.size(); ++g) {
    INFO("code group " << g);
    CHECK(device.codes_to_host(g == 0) == *arrays[g]);
  }
}

}  // namespace

TEST_CASE("the pq tables of the cuda tests take each split and code width", "[cuda]") {
  const auto prefix = cpu_pq(kCases[3]);
  const auto bitset = cpu_pq(kCases[4]);
  CHECK_FALSE(dynamic_cast<const MgqeTable&>(*prefix).split().bitset());
  CHECK(dynamic_cast<const MgqeTable&>(*bitset).split().bitset());
  const auto spanning = cpu_pq(kCases[2]);
  CHECK(64 % dynamic_cast<const DpqTable&>(*spanning).layout().bits() != 0);
}

TEST_CASE("cuda dpq and mgqe look up and forward what the CPU tables do", "[cuda]") {
  if (!backend_ready()) return;
  for (const Case& c : kCases) {
    INFO(c.spec);
    const auto cpu = cpu_pq(c);
    const auto source = cpu_pq(c);
    auto device = cuda::PqTable::mirror(as_pq(*source));
    check_same_lookups(*cpu, device, {1, 7, 300});
    for (const Index batch : {1, 64, 300}) {
      INFO("batch " << batch);
      const auto ids = skewed_ids(cpu->schema(), batch, 8);
      CHECK(device_forward(device, ids, cpu->dim()) == cpu_forward(*cpu, ids));
      CHECK(device.auxiliary_loss() == cpu->auxiliary_loss());
      CHECK(cpu->auxiliary_loss() > 0.0);
      check_same_codes(as_pq(*cpu), device);
    }
  }
}

TEST_CASE("cuda dpq and mgqe train as the CPU tables with every optimizer", "[cuda]") {
  if (!backend_ready()) return;
  for (const Case& c : kCases) {
    for (auto& optimizer : every_optimizer()) {
      INFO(c.spec << " with " << optimizer->name());
      const auto cpu = cpu_pq(c);
      const auto source = cpu_pq(c);
      auto device = cuda::PqTable::mirror(as_pq(*source));
      const auto rule = cuda::DeviceOptimizer::of(*optimizer);
      Gradients grads;
      for (unsigned step = 0; step < 5; ++step) {
        const auto ids = skewed_ids(cpu->schema(), step % 2 == 0 ? 64 : 5, 60 + step);
        const auto dE = normal_values(ids.size() * static_cast<std::size_t>(cpu->dim()), step);
        // The trainer's order: the training forward (codes, regulariser), then the step; step 3
        // has no forward, both backwards assign the centroids afresh.
        if (step != 3) CHECK(device_forward(device, ids, cpu->dim()) == cpu_forward(*cpu, ids));
        cpu_step(*cpu, *optimizer, ids, dE, grads);
        device_step(device, rule, ids, dE);
      }
      CHECK(check_same_parameters(*cpu, *optimizer, device) ==
            std::vector<std::string>{"query", "centroids"});
      check_same_codes(as_pq(*cpu), device);
      // Copied back, the second CPU table is the first: its checkpoint holds the codes.
      device.copy_rows_to(*source);
      CHECK(checkpoint(*source) == checkpoint(*cpu));
    }
  }
}

TEST_CASE("cuda dpq and mgqe refuse bad input and change nothing", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_pq(kCases[3]);
  auto device = cuda::PqTable::mirror(as_pq(*cpu));
  const auto ids = check_copy_back_and_bad_input(*cpu, device, "query");
  // A bad id in a training forward stores no code.
  const auto codes = device.codes_to_host(true);
  auto bad = ids;
  bad[3 * 6 + 4] = 1;  // field 4 has one id
  CHECK_THROWS_WITH(device_forward(device, bad, 16),
                    Catch::Contains("id 1 at position 22 (field 4)"));
  CHECK(device.codes_to_host(true) == codes);
  CHECK_THROWS_AS(device.rows_to_host("rows"), InvalidArgument);
  const auto other = make_table("hash", TableArgs(collision_schema(), Budget{8.0}, 3));
  CHECK_THROWS_AS(device.copy_rows_to(*other), InvalidArgument);
}

}  // namespace embcomp::test
