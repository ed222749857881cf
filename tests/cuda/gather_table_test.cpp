// The CUDA gather tables (full, int8, int16, hash, adaembed, dedup) against the CPU tables they
// mirror, on the same inputs. Built twice (tests/cuda/CMakeLists.txt): through the host shim, and
// on the GPU. The expected results are bit for bit: lookups copy rows, the gradient of a row sums
// its positions in the same order on both (ascending position), and the update rule is the same
// function (kernels/optim_rules.hpp) compiled without multiply-add contraction on both.
#include <catch2/catch.hpp>

#include <limits>
#include <random>
#include <set>
#include <tuple>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/gather_table.hpp"
#include "embcomp/methods/adaembed.hpp"
#include "embcomp/methods/dedup.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "methods/dedup_support.hpp"

namespace embcomp::test {
namespace {

/// Training-split counts with ties and unseen ids (every fifth), in no id order, so that
/// adaembed stores its hot sets (as sorted ids or bitsets) instead of taking rank prefixes.
std::shared_ptr<const IdCounts> shuffled_counts(const Schema& schema) {
  std::mt19937_64 rng(11);
  auto counts = std::make_shared<IdCounts>();
  for (const Index n : schema.cardinalities) {
    std::vector<std::uint64_t> c(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = i % 5 == 4 ? 0 : 1 + 200 / (1 + i / 3);
    std::shuffle(c.begin(), c.end(), rng);
    counts->push_back(std::move(c));
  }
  return counts;
}

struct TableCase {
  std::string spec;
  double ratio;
  bool counts = false;  ///< built with shuffled_counts
};

std::unique_ptr<EmbeddingTable> cpu_table(const TableCase& c) {
  const Schema schema = collision_schema();
  return make_table(
      c.spec, TableArgs(schema, Budget{c.ratio}, 7, c.counts ? shuffled_counts(schema) : nullptr));
}
std::unique_ptr<EmbeddingTable> cpu_table(const std::string& spec, double ratio) {
  return cpu_table({spec, ratio});
}

/// A parameter's rows as floats (codes decoded).
std::vector<float> decoded_rows(const Parameter& param) {
  std::vector<float> rows(param.size());
  for (Index r = 0; r < param.rows(); ++r) param.read_row(r, rows.data() + r * param.width());
  return rows;
}

const std::vector<TableCase> kTables = {
    {"full", 1.0},
    {"int8", 1.0},
    {"int8:scale_mode=per_row", 1.0},
    {"int16", 1.0},
    {"int16:scale_mode=per_row", 1.0},
    {"alpt", 1.0},
    {"alpt:bits=16,step_lr=0.5", 1.0},
    {"hash", 20.0},
    {"hash:hash=xxhash", 20.0},
    {"hash:tables=per_field,threshold=40", 10.0},
    {"adaembed", 10.0},  // hot sets: rank prefixes
    {"adaembed", 3.0, true},
    {"adaembed:select=per_field,threshold=40", 3.0, true},
    {"adaembed:cold_tables=shared,hash=xxhash", 40.0, true},
};

/// A dedup table before its stage change, 7 blocks of 4 rows (d = 4) of which blocks 3 and 5
/// are near-copies of block 0, and block 4 of block 1: at 1.3x it merges those 3.
std::unique_ptr<EmbeddingTable> planted_dedup() {
  auto table = make_table("dedup:block_rows=4", TableArgs(Schema{{20, 5, 3}, 4}, Budget{1.3}, 7));
  const auto rows = planted_table({-1, -1, -1, 0, 1, 0, -1}, 4, 4, 0.004f);
  std::copy(rows.begin(), rows.end(), table->parameters().front()->data());
  return table;
}

/// planted_dedup after its stage change (its blocks merged).
std::unique_ptr<EmbeddingTable> deduplicated() {
  auto table = planted_dedup();
  table->begin_stage(1);
  return table;
}

}  // namespace

TEST_CASE("the adaembed tables of the cuda tests store every kind of hot set", "[cuda]") {
  std::set<kernels::HotSet> kinds;
  for (const TableCase& c : kTables) {
    if (!c.spec.starts_with("adaembed")) continue;
    const auto cpu = cpu_table(c);
    for (const auto& field : dynamic_cast<const AdaEmbedTable&>(*cpu).field_rows()) {
      if (field.hot.count > 0) kinds.insert(field.hot.set);
    }
  }
  CHECK(kinds == std::set<kernels::HotSet>{kernels::HotSet::prefix, kernels::HotSet::sorted,
                                           kernels::HotSet::bitset});
}

TEST_CASE("cuda gather tables look up what the CPU tables do", "[cuda]") {
  if (!backend_ready()) return;
  for (const TableCase& c : kTables) {
    INFO(c.spec << " at " << c.ratio << "x" << (c.counts ? " with counts" : ""));
    const auto cpu = cpu_table(c);
    check_same_lookups(*cpu, cuda::GatherTable::mirror(*cpu), {1, 3, 257});
  }
}

TEST_CASE("cuda gather tables train as the CPU tables do with sgd adagrad and adam", "[cuda]") {
  if (!backend_ready()) return;
  for (const TableCase& c : kTables) {
    for (auto& cpu_optimizer : all_optimizers()) {
      INFO(c.spec << " at " << c.ratio << "x" << (c.counts ? " with counts" : "") << " with "
                  << cpu_optimizer->name());
      const auto cpu = cpu_table(c);
      auto device = cuda::GatherTable::mirror(*cpu);
      train_twins(*cpu, *cpu_optimizer, device, cuda::DeviceOptimizer::of(*cpu_optimizer), 6, {64},
                  100);
      const Parameter& rows = *cpu->parameters().front();
      CHECK(device.rows_to_host() == decoded_rows(rows));
      CHECK(device.steps() == cpu_optimizer->steps());
      if (cpu_optimizer->slots() > 0) CHECK(device.state_to_host() == *cpu_optimizer->state(rows));
    }
  }
}

TEST_CASE("cuda gather tables train as the CPU tables do with row-wise adagrad", "[cuda]") {
  if (!backend_ready()) return;
  std::size_t compared = 0;
  for (const TableCase& c : kTables) {
    INFO(c.spec << " at " << c.ratio << "x" << (c.counts ? " with counts" : ""));
    const auto cpu = cpu_table(c);
    RowwiseAdagrad cpu_optimizer(0.05f);
    auto device = cuda::GatherTable::mirror(*cpu);
    train_twins(*cpu, cpu_optimizer, device, cuda::DeviceOptimizer::of(cpu_optimizer), 6, {64},
                100);
    const Parameter& rows = *cpu->parameters().front();
    CHECK(device.rows_to_host() == decoded_rows(rows));
    CHECK(device.steps() == cpu_optimizer.steps());
    REQUIRE(cpu_optimizer.state(rows) != nullptr);
    // A state per row, and one per learned step size.
    CHECK(cpu_optimizer.state(rows)->size() ==
          static_cast<std::size_t>(rows.rows()) * (rows.learns_step() ? 2 : 1));
    CHECK(device.state_to_host() == *cpu_optimizer.state(rows));
    ++compared;
  }
  CHECK(compared == kTables.size());
}

TEST_CASE("cuda gather table copies its rows back into the CPU table", "[cuda]") {
  if (!backend_ready()) return;
  // Each with a table it cannot be copied into: twice the rows, or another codec.
  for (const auto& [spec, ratio, other_spec, other_ratio] :
       {std::tuple{"hash", 20.0, "hash", 10.0},
        std::tuple{"int8:scale_mode=per_row", 1.0, "int16:scale_mode=per_row", 1.0}}) {
    INFO(spec);
    const auto cpu = cpu_table(spec, ratio);
    auto device = cuda::GatherTable::mirror(*cpu);
    const auto ids = skewed_ids(cpu->schema(), 32, 5);
    const auto dE = normal_values(ids.size() * 16, 6);
    const auto device_ids = DeviceArray<Index>::from(ids);
    const auto device_dE = DeviceArray<float>::from(dE);
    device.train_step({device_ids.data(), 32, 6}, device_dE.data(),
                      {cuda::DeviceOptimizer::Kind::sgd, 0.1f});
    const auto before = lookup(*cpu, ids);
    device.copy_rows_to(*cpu);
    CHECK(lookup(*cpu, ids) != before);
    CHECK(lookup(*cpu, ids) == device_lookup(device, ids, 16));

    const auto other =
        make_table(other_spec, TableArgs(collision_schema(), Budget{other_ratio}, 7));
    CHECK_THROWS_AS(device.copy_rows_to(*other), InvalidArgument);
  }
}

TEST_CASE("cuda gather table mirrors dedup in each stage and trains as the CPU table does",
          "[cuda]") {
  if (!backend_ready()) return;
  // The full stage on the device, its rows copied back, the blocks merged on the CPU, and the
  // table mirrored again: the twin reads the kept blocks through the same remap.
  auto cpu = planted_dedup();
  auto source = planted_dedup();
  auto device = cuda::GatherTable::mirror(*source);
  CHECK(device.rows() == 28);  // every stacked row, no remap yet
  Sgd sgd(1e-4f);              // small steps: the planted blocks stay near-duplicates
  train_twins(*cpu, sgd, device, cuda::DeviceOptimizer::of(sgd), 3, {16}, 40);
  device.copy_rows_to(*source);
  CHECK(checkpoint(*source) == checkpoint(*cpu));
  cpu->begin_stage(1);
  source->begin_stage(1);
  const auto& dedup = dynamic_cast<const DedupTable&>(*source);
  REQUIRE(dedup.deduplicated());
  auto merged = cuda::GatherTable::mirror(*source);
  CHECK(merged.rows() == source->parameters().front()->rows());
  CHECK(merged.rows() < 28);
  check_same_lookups(*cpu, merged, {1, 7, 200});

  // The merged stage with every optimizer, fresh as the CPU's state is after the reshape.
  for (auto& optimizer : every_optimizer()) {
    INFO(optimizer->name());
    auto cpu_merged = deduplicated();
    auto twin = cuda::GatherTable::mirror(*deduplicated());
    train_twins(*cpu_merged, *optimizer, twin, cuda::DeviceOptimizer::of(*optimizer), 6, {64}, 100);
    check_same_parameters(*cpu_merged, *optimizer, twin);
  }
}

TEST_CASE("cuda gather table refuses a block remap that leaves its rows", "[cuda]") {
  if (!backend_ready()) return;  // the table's rows are allocated before the remap is checked
  const auto table = deduplicated();
  const auto& dedup = dynamic_cast<const DedupTable&>(*table);
  const Parameter& rows = *table->parameters().front();
  const kernels::BlockRemap blocks = dedup.block_remap();
  REQUIRE(blocks.remap != nullptr);
  std::vector<std::int32_t> remap(blocks.remap, blocks.remap + dedup.blocks());
  cuda::HostRows host;
  host.rows = rows.rows();
  host.width = rows.width();
  host.values = rows.data();
  const auto build = [&](const std::vector<std::int32_t>& entries, Index block_rows) {
    return cuda::GatherTable("dedup", dedup.field_rows(), table->schema().cardinalities, host, {},
                             {entries, block_rows});
  };
  if (backend_ready()) CHECK_NOTHROW(build(remap, 4));
  std::vector<std::int32_t> outside = remap;
  outside[2] = static_cast<std::int32_t>(rows.rows() / 4);  // one past the kept blocks
  CHECK_THROWS_WITH(build(outside, 4), Catch::Contains("does not send the fields' 28 rows"));
  std::vector<std::int32_t> short_remap(remap.begin(), remap.end() - 1);  // block 6 unmapped
  CHECK_THROWS_AS(build(short_remap, 4), InvalidArgument);
  CHECK_THROWS_AS(build(remap, 3), InvalidArgument);  // kept rows not whole blocks of 3
}

TEST_CASE("cuda gather table refuses bad input and changes nothing", "[cuda]") {
  if (!backend_ready()) return;
  const auto cpu = cpu_table("hash", 20.0);
  auto device = cuda::GatherTable::mirror(*cpu);
  const auto rows_before = device.rows_to_host();
  auto ids = skewed_ids(cpu->schema(), 16, 9);
  auto dE = normal_values(ids.size() * 16, 10);
  const cuda::DeviceOptimizer adam{cuda::DeviceOptimizer::Kind::adam, 0.01f};

  SECTION("an id outside its field") {
    ids[5 * 6 + 2] = 3;  // field 2 has 3 ids
    const auto device_ids = DeviceArray<Index>::from(ids);
    const auto device_dE = DeviceArray<float>::from(dE);
    DeviceArray<float> out(ids.size() * 16);
    try {
      device.lookup({device_ids.data(), 16, 6}, out.data());
      FAIL("lookup accepted id 3 of a field of 3 ids");
    } catch (const InvalidArgument& e) {
      CHECK_THAT(e.what(), Catch::Contains("id 3 at position 32 (field 2)"));
    }
    CHECK_THROWS_AS(device.train_step({device_ids.data(), 16, 6}, device_dE.data(), adam),
                    InvalidArgument);
  }
  SECTION("a negative id") {
    ids[7] = -1;
    const auto device_ids = DeviceArray<Index>::from(ids);
    const auto device_dE = DeviceArray<float>::from(dE);
    CHECK_THROWS_AS(device.train_step({device_ids.data(), 16, 6}, device_dE.data(), adam),
                    InvalidArgument);
  }
  SECTION("a NaN in dE") {
    dE[40] = std::numeric_limits<float>::quiet_NaN();
    const auto device_ids = DeviceArray<Index>::from(ids);
    const auto device_dE = DeviceArray<float>::from(dE);
    try {
      device.train_step({device_ids.data(), 16, 6}, device_dE.data(), adam);
      FAIL("train_step accepted a NaN gradient");
    } catch (const NonFiniteGradient& e) {
      CHECK_THAT(e.what(), Catch::Contains("row 2, column 8"));
    }
  }
  SECTION("a batch of the wrong width") {
    const auto device_ids = DeviceArray<Index>::from(ids);
    DeviceArray<float> out(ids.size() * 16);
    CHECK_THROWS_AS(device.lookup({device_ids.data(), 19, 5}, out.data()), InvalidArgument);
  }
  CHECK(device.rows_to_host() == rows_before);
  CHECK(device.steps() == 0);
  for (const float state : device.state_to_host()) REQUIRE(state == 0.0f);
}

TEST_CASE("cuda gather table refuses methods and optimizers it has no form for", "[cuda]") {
  if (!backend_ready()) return;
  const Schema schema = collision_schema();
  for (const char* spec : {"tt", "mde", "cafe"}) {
    INFO(spec);
    const auto cpu = make_table(spec, TableArgs(schema, Budget{10.0}, 1));
    try {
      (void)cuda::GatherTable::mirror(*cpu);
      FAIL("mirrored " << spec);
    } catch (const InvalidArgument& e) {
      CHECK_THAT(e.what(), Catch::Contains(spec) && Catch::Contains("int16, alpt, hash"));
    }
  }

  // A table stepped by SGD has no state for Adam's moments.
  const auto cpu = cpu_table("hash", 20.0);
  auto device = cuda::GatherTable::mirror(*cpu);
  const auto ids = skewed_ids(cpu->schema(), 8, 1);
  const auto device_ids = DeviceArray<Index>::from(ids);
  const auto device_dE = DeviceArray<float>::from(normal_values(ids.size() * 16, 2));
  device.train_step({device_ids.data(), 8, 6}, device_dE.data(),
                    {cuda::DeviceOptimizer::Kind::sgd, 0.1f});
  const auto rows = device.rows_to_host();
  CHECK_THROWS_WITH(device.train_step({device_ids.data(), 8, 6}, device_dE.data(),
                                      {cuda::DeviceOptimizer::Kind::adam, 0.1f}),
                    Catch::Contains("stepped by adam after another optimizer"));
  CHECK(device.rows_to_host() == rows);
  CHECK(device.steps() == 1);
}

}  // namespace embcomp::test
