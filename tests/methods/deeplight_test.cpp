// deeplight: sizing from the budget, the schedule and its gate, pruning against a naive
// reference, regrowth, finalize to the exact budget and the sparse serving form.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "embcomp/methods/deeplight.hpp"
#include "embcomp/optim/sgd.hpp"
#include "embcomp/serving/sparse_rows.hpp"
#include "embcomp/serving/sparse_table.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<DeepLightTable> make_deeplight(const std::string& options, double ratio,
                                               Schema schema = small_schema()) {
  return make_method<DeepLightTable>("deeplight" + options, {schema, Budget{ratio}, 3});
}

Index zeros_in(const std::vector<float>& v) {
  return static_cast<Index>(std::count(v.begin(), v.end(), 0.0f));
}

}  // namespace

TEST_CASE("deeplight: the budget buys nonzeros in the smaller sparse layout", "[methods][deeplight]") {
  const Schema schema = small_schema();  // 1293 rows x 8
  const double elements = 1293.0 * 8;
  for (double ratio : {1.0, 2.0, 8.0, 100.0}) {
    INFO("ratio " << ratio);
    const auto t = make_deeplight("", ratio);
    const double bytes = Budget{ratio}.bytes(schema);
    CHECK(t->target_nonzeros() == SparseRows::max_nonzeros(1293, bytes));
    CHECK(t->target_rate() == Approx(1.0 - static_cast<double>(t->target_nonzeros()) / elements));
  }
  // 2x: 20,688 B; CSR costs 4 x 1294 B of row pointers and 6 B per nonzero: 2,585 nonzeros.
  CHECK(make_deeplight("", 2.0)->target_nonzeros() == (20688 - 4 * 1294) / 6);
  // 100x: 413 B; COO at 10 B per nonzero: 41.
  CHECK(make_deeplight("", 100.0)->target_nonzeros() == 41);
  CHECK_THROWS_AS(make_deeplight("", 1e5), InfeasibleBudget);
}

TEST_CASE("deeplight: the schedule reaches the target at 80% of the stage", "[methods][deeplight]") {
  const DeepLightSchedule stage{0.9, 1e-3, false};
  CHECK(stage.rate(0, 1000) == 0.0);
  CHECK(stage.rate(400, 1000) == Approx(0.9 * (1 - std::sqrt(1e-3))));
  CHECK(stage.rate(799, 1000) < 0.9);
  CHECK(stage.rate(800, 1000) == 0.9);
  CHECK(stage.rate(1000, 1000) == 0.9);
  CHECK_FALSE(stage.reached(stage.rate(799, 1000)));  // within dev of P is not enough
  CHECK(stage.reached(stage.rate(800, 1000)));
  // The reference's tau = 100 steps: the gate opens at t* = 100 log(1e-3) / log(0.99), 68,731.4
  // (the spec's "about 68,733").
  const DeepLightSchedule reference{0.9, 1e-3, true};
  CHECK(reference.rate(100, 1000) == Approx(0.9 * 0.01));
  const double opens = 100.0 * std::log(1e-3) / std::log(0.99);
  CHECK_FALSE(reference.reached(reference.rate(static_cast<Index>(std::floor(opens)), 1)));
  CHECK(reference.reached(reference.rate(static_cast<Index>(std::ceil(opens)), 1)));
}

TEST_CASE("deeplight: pruning zeroes the scheduled count, the gate follows the schedule, "
          "zeroed entries regrow",
          "[methods][deeplight]") {
  auto t = make_deeplight(":every=5,warmup=0.5", 4.0);
  const Schema& s = t->schema();
  const double elements = static_cast<double>(s.total_rows() * s.dim);
  Sgd sgd(0.5f);
  t->begin_stage(0);
  CHECK(t->may_become_best());  // warm-up: any state may be its best
  t->after_step({1, 0, 0.0, &sgd, 5, 50});
  CHECK(zeros_in(all_embeddings(*t)) == 0);  // no pruning in the warm-up

  t->begin_stage(1);
  const Index length = 50;
  for (Index step = 1; step <= length; ++step) {
    t->after_step({static_cast<std::uint64_t>(step), 1, 0.0, &sgd, step, length});
    const bool pruned_now = step % 5 == 0;
    if (!pruned_now) continue;
    INFO("step " << step);
    const double rho = DeepLightSchedule{t->target_rate(), 1e-3, false}.rate(step, length);
    CHECK(t->prune_rate() == rho);
    CHECK(zeros_in(all_embeddings(*t)) == static_cast<Index>(std::llround(rho * elements)));
    CHECK(t->may_become_best() == (step >= 40));  // 80% of 50
  }

  // Zeroed entries are not masked: a gradient step moves them.
  const std::vector<Index> ids(static_cast<std::size_t>(s.num_fields()), 0);
  const auto before = lookup(*t, ids);
  std::vector<float> dE(before.size(), 1.0f);
  Gradients grads;
  t->backward(batch_of(ids, s), {dE.data(), s.num_fields(), s.dim}, grads);
  sgd.step(grads);
  const auto after = lookup(*t, ids);
  CHECK(zeros_in(before) > 0);
  CHECK(zeros_in(after) == 0);
}

TEST_CASE("deeplight: a step the trainer validates after is pruned, off the schedule",
          "[methods][deeplight]") {
  auto t = make_deeplight("", 4.0);
  Sgd sgd(0.5f);
  t->begin_stage(0);
  t->after_step({3, 0, 0.0, &sgd, 3, 50});  // not a multiple of every=10: no prune
  CHECK(t->prune_rate() == 0.0);
  t->after_step({4, 0, 0.0, &sgd, 4, 50, /*evaluation_follows=*/true});
  CHECK(t->prune_rate() == DeepLightSchedule{t->target_rate(), 1e-3, false}.rate(4, 50));
  CHECK(t->prune_rate() > 0.0);
}

TEST_CASE("deeplight: finalize keeps exactly the largest magnitudes the budget buys",
          "[methods][deeplight]") {
  for (double ratio : {2.0, 8.0, 100.0}) {
    INFO("ratio " << ratio);
    auto t = make_deeplight("", ratio);
    const std::vector<float> dense = all_embeddings(*t);
    // Naive reference: sort magnitudes, keep the target count.
    std::vector<float> expected = dense;
    kernels::prune_smallest_reference(expected.data(), static_cast<Index>(expected.size()),
                                      static_cast<Index>(expected.size()) - t->target_nonzeros());
    t->finalize();
    CHECK(all_embeddings(*t) == expected);
    const MemoryReport m = t->memory();
    const Index nnz = t->target_nonzeros();
    const Index rows = t->schema().total_rows();
    CHECK(static_cast<double>(m.serving_bytes) ==
          SparseRows::bytes_for(SparseRows::best_layout(rows, nnz), rows, nnz));
    CHECK(static_cast<double>(m.serving_bytes) <= t->budget().bytes(t->schema()));

    auto frozen = t->freeze();
    CHECK(frozen->spec() == "sparse:of=deeplight");
    std::stringstream file;
    frozen->save(file);
    auto loaded = load_table(file);
    CHECK(dynamic_cast<SparseServingTable*>(loaded.get()) != nullptr);
    CHECK(all_embeddings(*loaded) == expected);
  }
}

TEST_CASE("deeplight: the reference schedule does not reach its target in a short stage",
          "[methods][deeplight]") {
  // Why deeplight:schedule=reference is kept out of the conformance learning check: in a
  // stage of 300 steps it prunes 1 - 0.99^3 = 3% of the target, and finalize then prunes the
  // rest at once, after training.
  auto t = make_deeplight(":schedule=reference", 8.0);
  Sgd sgd(0.1f);
  t->begin_stage(0);
  t->after_step({300, 0, 0.0, &sgd, 300, 300});
  CHECK(t->prune_rate() == Approx(t->target_rate() * (1 - std::pow(0.99, 3.0))));
  CHECK_FALSE(t->may_become_best());
}

TEST_CASE("deeplight: bad options are refused", "[methods][deeplight]") {
  CHECK_THROWS_AS(make_deeplight(":every=0", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_deeplight(":prune=0", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_deeplight(":warmup=-1", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_deeplight(":stop_deviation=1", 2.0), InvalidArgument);
  CHECK_THROWS_AS(make_deeplight(":schedule=fast", 2.0), InvalidArgument);
  CHECK(make_deeplight("", 2.0)->stages().size() == 1);
  CHECK(make_deeplight(":warmup=1", 2.0)->stages().size() == 2);
}
