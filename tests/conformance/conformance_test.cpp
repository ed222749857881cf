// The checks every registered method passes (DESIGN.md, "quality bars"): shapes, determinism,
// finite-difference gradients, save/load, freeze, memory within budget, factory round trip,
// bad ids rejected, infeasible budgets named, and learning a planted task.
#include <catch2/catch.hpp>

#include <sstream>

#include "embcomp/optim/sgd.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// The most compressed of a few ratios that `key` can meet on `schema` (every method meets 1
/// except quantized ones, which meet their own bit ratio).
double feasible_ratio(const std::string& key, const Schema& schema) {
  for (double ratio : {8.0, 3.0, 1.5, 1.0}) {
    try {
      make_table(key, {schema, Budget{ratio}, 1});
      return ratio;
    } catch (const InfeasibleBudget&) {
    }
  }
  FAIL("method " << key << " is infeasible at every tested ratio, even 1");
  return 0;
}

std::unique_ptr<EmbeddingTable> make(const std::string& key, std::uint64_t seed = 1,
                                     Schema schema = small_schema()) {
  return make_table(key, {schema, Budget{feasible_ratio(key, schema)}, seed});
}

std::vector<std::string> method_keys() {
  std::vector<std::string> keys;
  for (const auto& m : methods()) keys.push_back(m.key);
  return keys;
}

/// Loss = sum(weights . lookup(ids)), so dLoss/dE = weights.
double weighted_sum(const EmbeddingTable& table, const std::vector<Index>& ids,
                    const std::vector<float>& weights) {
  const auto out = lookup(table, ids);
  double s = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * weights[i];
  return s;
}

}  // namespace

TEST_CASE("conformance: shapes and determinism under a seed", "[conformance]") {
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto a = make(key, 11), b = make(key, 11), c = make(key, 12);
    const auto ids = random_ids(a->schema(), 64, 3);
    const auto ea = lookup(*a, ids);
    REQUIRE(ea.size() == static_cast<std::size_t>(64 * a->schema().num_fields() * a->dim()));
    CHECK(ea == lookup(*b, ids));
    CHECK(ea != lookup(*c, ids));
    for (float v : ea) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("conformance: backward matches finite differences", "[conformance]") {
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto table = make(key, 5);
    const auto ids = random_ids(table->schema(), 16, 9);
    const auto weights = random_values(ids.size() * static_cast<std::size_t>(table->dim()), 4);
    Gradients grads;
    table->backward(batch_of(ids, table->schema()),
                    {weights.data(), static_cast<Index>(ids.size()), table->dim()}, grads);
    // Every sparse gradient row is unique and in range.
    for (const auto& g : grads.sparse) {
      std::vector<Index> rows = g.rows;
      std::sort(rows.begin(), rows.end());
      CHECK(std::adjacent_find(rows.begin(), rows.end()) == rows.end());
      for (Index r : rows) CHECK((r >= 0 && r < g.param->rows()));
    }
    for (const auto& g : grads.sparse) {
      if (!g.param->is_fp32()) continue;  // codes cannot be nudged by epsilon; see method tests
      for (Index i = 0; i < std::min<Index>(g.count(), 6); ++i) {
        for (Index c = 0; c < g.param->width(); c += 3) {
          float* w = g.param->row(g.rows[i]) + c;
          const float saved = *w, eps = 1e-2f;
          *w = saved + eps;
          const double up = weighted_sum(*table, ids, weights);
          *w = saved - eps;
          const double down = weighted_sum(*table, ids, weights);
          *w = saved;
          CHECK(g.row(i)[c] == Approx((up - down) / (2 * eps)).margin(2e-3).epsilon(2e-3));
        }
      }
    }
    for (const auto& g : grads.dense) {
      for (std::size_t e = 0; e < g.values.size(); e += std::max<std::size_t>(1, g.values.size() / 12)) {
        float* w = g.param->data() + e;
        const float saved = *w, eps = 1e-2f;
        *w = saved + eps;
        const double up = weighted_sum(*table, ids, weights);
        *w = saved - eps;
        const double down = weighted_sum(*table, ids, weights);
        *w = saved;
        CHECK(g.values[e] == Approx((up - down) / (2 * eps)).margin(2e-3).epsilon(2e-3));
      }
    }
  }
}

namespace {

/// The same gradients: entries in the same order, with equal rows and values.
void check_same_gradients(const Gradients& a, const Gradients& b) {
  REQUIRE(a.sparse.size() == b.sparse.size());
  for (std::size_t i = 0; i < a.sparse.size(); ++i) {
    CHECK(a.sparse[i].rows == b.sparse[i].rows);
    CHECK(a.sparse[i].values == b.sparse[i].values);
  }
  REQUIRE(a.dense.size() == b.dense.size());
  for (std::size_t i = 0; i < a.dense.size(); ++i) CHECK(a.dense[i].values == b.dense[i].values);
}

}  // namespace

TEST_CASE("conformance: forward is lookup, and backward after forward is backward after lookup",
          "[conformance]") {
  // Table a runs lookup -> backward -> step -> after_step; table b (same seed) runs forward
  // instead of lookup, and on some steps forward is followed by something that must not reuse
  // what forward kept: a forward of other ids (step 2), or the previous step's after_step,
  // which changes CAFE's sketch (step 4).
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto a = make(key, 7), b = make(key, 7);
    const Schema& schema = a->schema();
    const Index d = a->dim();
    Sgd sgd_a(0.5f), sgd_b(0.5f);
    Gradients grads_a, grads_b;
    for (int step = 0; step < 6; ++step) {
      INFO("step " << step);
      const auto ids = random_ids(schema, 32, 100 + static_cast<unsigned>(step));
      const auto other = random_ids(schema, 32, 300 + static_cast<unsigned>(step));
      const IdBatch batch = batch_of(ids, schema);
      const auto dE = random_values(ids.size() * static_cast<std::size_t>(d), 50 + static_cast<unsigned>(step));
      const ConstMatrix dE_view{dE.data(), batch.size(), d};
      const StepContext ctx_a{static_cast<std::uint64_t>(step + 1), 0, 0.0, &sgd_a};
      const StepContext ctx_b{static_cast<std::uint64_t>(step + 1), 0, 0.0, &sgd_b};

      const auto expected = lookup(*a, ids);
      a->backward(batch, dE_view, grads_a);

      std::vector<float> out(expected.size());
      b->forward(batch, {out.data(), batch.size(), d});
      if (step != 4) CHECK(out == expected);  // at 4, b's previous after_step has not run yet
      if (step == 2) {
        std::vector<float> scratch(other.size() * static_cast<std::size_t>(d));
        b->forward(batch_of(other, schema), {scratch.data(), static_cast<Index>(other.size()), d});
      }
      if (step == 4) b->after_step({static_cast<std::uint64_t>(step), 0, 0.0, &sgd_b});
      b->backward(batch, dE_view, grads_b);
      check_same_gradients(grads_a, grads_b);

      sgd_a.step(grads_a);
      a->after_step(ctx_a);
      sgd_b.step(grads_b);
      if (step != 3) b->after_step(ctx_b);  // step 3's runs between step 4's forward and backward
    }
    CHECK(lookup(*a, random_ids(schema, 64, 9)) == lookup(*b, random_ids(schema, 64, 9)));
  }
}

TEST_CASE("conformance: save/load round trip and freeze", "[conformance]") {
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto table = make(key, 21);
    const auto ids = random_ids(table->schema(), 32, 8);
    std::stringstream file;
    table->save(file);
    auto loaded = load_table(file);
    CHECK(loaded->spec() == table->spec());
    CHECK(lookup(*loaded, ids) == lookup(*table, ids));
    CHECK(loaded->memory().serving_bytes == table->memory().serving_bytes);

    auto frozen = table->freeze();
    CHECK(frozen->frozen());
    CHECK(lookup(*frozen, ids) == lookup(*table, ids));
    CHECK(frozen->memory().serving_bytes <= table->memory().serving_bytes);
    Gradients grads;
    std::vector<float> dE(ids.size() * static_cast<std::size_t>(table->dim()), 1.0f);
    CHECK_THROWS_AS(frozen->backward(batch_of(ids, table->schema()),
                                     {dE.data(), static_cast<Index>(ids.size()), table->dim()}, grads),
                    Error);
  }
}

TEST_CASE("conformance: memory within budget and honestly reported", "[conformance]") {
  const Schema schema = small_schema();
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    for (double ratio : {1.0, 1.5, 3.0, 8.0, 40.0}) {
      std::unique_ptr<EmbeddingTable> table;
      try {
        table = make_table(key, {schema, Budget{ratio}, 1});
      } catch (const InfeasibleBudget&) {
        continue;
      }
      INFO("ratio " << ratio);
      const MemoryReport m = table->memory();
      CHECK(static_cast<double>(m.serving_bytes) <= Budget{ratio}.bytes(schema));
      std::size_t params = 0, elements = 0;
      for (const Parameter* p : std::as_const(*table).parameters()) {
        params += p->bytes();
        elements += p->size();
      }
      CHECK(m.parameter_bytes == params);
      CHECK(m.ratio() >= ratio * (1 - 1e-12));
      Adam adam(0.01f);  // m and v: two fp32 values per parameter element
      CHECK(table->memory(&adam).optimizer_bytes == 2 * elements * sizeof(float));
    }
  }
}

TEST_CASE("conformance: factory string round trip", "[conformance]") {
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto table = make(key, 3);
    auto again = make_table(table->spec(), {table->schema(), table->budget(), 3});
    CHECK(again->spec() == table->spec());
    const auto ids = random_ids(table->schema(), 16, 2);
    CHECK(lookup(*again, ids) == lookup(*table, ids));
    CHECK_THROWS_WITH(make_table(key + ":no_such_option=1", {table->schema(), table->budget(), 3}),
                      Catch::Contains("no option 'no_such_option'"));
  }
  CHECK_THROWS_WITH(make_table("no_such_method", {small_schema(), Budget{2}, 0}),
                    Catch::Contains("known methods"));
}

TEST_CASE("conformance: out-of-range and negative ids are rejected", "[conformance]") {
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto table = make(key);
    const Schema& s = table->schema();
    auto ids = random_ids(s, 4, 1);
    for (Index bad : {Index{-1}, s.cardinalities[2], Index{1} << 40}) {
      auto broken = ids;
      broken[1 * s.num_fields() + 2] = bad;
      CHECK_THROWS_WITH(lookup(*table, broken), Catch::Contains("out of range") && Catch::Contains("field 2"));
      Gradients grads;
      std::vector<float> dE(ids.size() * static_cast<std::size_t>(s.dim), 0.0f);
      CHECK_THROWS_AS(table->backward(batch_of(broken, s), {dE.data(), static_cast<Index>(ids.size()), s.dim}, grads),
                      InvalidArgument);
    }
    std::vector<float> out(8);
    CHECK_THROWS_AS(table->lookup({ids.data(), 1, s.num_fields() - 1}, {out.data(), 1, s.dim}), InvalidArgument);
  }
}

TEST_CASE("conformance: an infeasible budget names the highest reachable ratio", "[conformance]") {
  const Schema schema = small_schema();
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    try {
      make_table(key, {schema, Budget{1e12}, 1});
      FAIL("a ratio of 1e12 on a " << schema.total_rows() << "-row schema cannot be feasible");
    } catch (const InfeasibleBudget& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find("highest ratio") != std::string::npos);
      REQUIRE(e.limit_ratio() >= 1.0);
      const double reachable = std::max(1.0, e.limit_ratio() * (1 - 1e-9));
      auto table = make_table(key, {schema, Budget{reachable}, 1});
      CHECK(table->memory().ratio() >= e.limit_ratio() * (1 - 1e-6));
    }
  }
}

TEST_CASE("conformance: training beats the trivial AUC on a planted task", "[conformance]") {
  for (const auto& key : method_keys()) {
    INFO("method " << key);
    auto table = make(key, 2);
    CHECK(train_planted_task_auc(*table) > 0.6);
  }
}
