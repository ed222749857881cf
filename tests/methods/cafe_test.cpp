#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include "cafe_support.hpp"
#include "stats.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/sgd.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::vector<float> embedding_of(const EmbeddingTable& t, Index field, Index id) {
  std::vector<Index> ids(static_cast<std::size_t>(t.schema().num_fields()), 0);
  ids[static_cast<std::size_t>(field)] = id;
  const auto out = lookup(t, ids);
  return {out.begin() + field * t.dim(), out.begin() + (field + 1) * t.dim()};
}

}  // namespace

TEST_CASE("cafe: per-ratio defaults of the reference and the layouts", "[methods][cafe]") {
  CHECK(cafe_schedule(1000).threshold == 500);
  CHECK(cafe_schedule(1000).hash_share == 0.2);
  CHECK(cafe_schedule(10000).hash_share == 0.1);
  CHECK(cafe_schedule(100).threshold == 100);
  CHECK(cafe_schedule(100).hash_share == 0.3);
  CHECK(cafe_schedule(2).threshold == 10);
  CHECK(cafe_schedule(2).hash_share == 0.7);
  CHECK(cafe_schedule(1.2).hash_share == 0.7);   // beyond the table: its end
  CHECK(cafe_schedule(1e6).threshold == 500);
  const Schema large{{300000, 100000}, 8};
  auto t = make_table("cafe:layout=reference", {large, Budget{1000}, 1});
  CHECK(as_cafe(*t).config().threshold == 500);
  CHECK(as_cafe(*t).config().hash_share == 0.2);
  CHECK_FALSE(as_cafe(*t).config().shared_hash_table);
  CHECK(t->spec() == "cafe:layout=reference,threshold=auto,half_life=0,hash_share=auto,decay=0.99,slots=4,"
                     "importance=gradient,sketch=shared,sketch_hash=modulo,hash=modulo,"
                     "hash_tables=auto,full_below=auto");
  // The default layout: one shared cold table with its share of the spare budget and the
  // reference's threshold.
  auto d = make_table("cafe", {large, Budget{1000}, 1});
  CHECK(as_cafe(*d).config().threshold == 500);
  CHECK(as_cafe(*d).config().hash_share == CafeConfig::kSharedHashShare);
  CHECK(as_cafe(*d).config().shared_hash_table);
  CHECK(as_cafe(*d).config().hash == kernels::HashKind::modulo);
  // An option given explicitly wins over the layout's.
  auto r = make_table("cafe:layout=reference,hash_tables=shared", {large, Budget{1000}, 1});
  CHECK(as_cafe(*r).config().shared_hash_table);
  CHECK(as_cafe(*r).config().hash_share == 0.2);
  auto h = make_table("cafe:hash_share=0.3,hash_tables=per_field", {large, Budget{1000}, 1});
  CHECK_FALSE(as_cafe(*h).config().shared_hash_table);
  CHECK(as_cafe(*h).config().hash_share == 0.3);
  // The time decay moves an adaptive threshold only.
  CHECK(as_cafe(*make_table("cafe:threshold=adaptive,half_life=50", {large, Budget{1000}, 1})).config().half_life == 50);
  CHECK_THROWS_WITH(make_table("cafe:half_life=50", {large, Budget{1000}, 1}),
                    Catch::Contains("half_life=50 has no effect with threshold=auto"));
  CHECK_THROWS_AS(make_table("cafe:threshold=adaptive,half_life=-1", {large, Budget{1000}, 1}), InvalidArgument);
  CHECK_THROWS_AS(make_table("cafe:layout=paper", {large, Budget{1000}, 1}), InvalidArgument);
  auto u = make_table("cafe:threshold=42,hash_share=0.4", {large, Budget{1000}, 1});
  CHECK(as_cafe(*u).config().threshold == 42);
  CHECK(as_cafe(*u).config().hash_share == 0.4);
  CHECK_THROWS_AS(make_table("cafe:hash_share=1", {two_fields(), Budget{10}, 1}), InvalidArgument);
  CHECK_THROWS_AS(make_table("cafe:importance=magic", {two_fields(), Budget{10}, 1}), InvalidArgument);
}

TEST_CASE("cafe: sizing from the budget, hot rows paying for their sketch bucket", "[methods][cafe]") {
  const Schema s{{200000, 50000, 3000, 1}, 16};  // N = 253,001
  auto t = make_table("cafe:layout=reference,hash_share=0.2", {s, Budget{100}, 1});
  const CafeTable& c = as_cafe(*t);
  const CafePlan& plan = c.plan();
  // full_below = 2000 / 100 = 20: only the 1-id field stays full.
  CHECK(plan.fields[3].full);
  CHECK_FALSE(plan.fields[0].full);
  const double row = 64, hot_cost = 64 + 48 + 4;
  const double budget = std::floor(s.full_bytes() / 100);
  const double minimum = 1 * row + 3 * row + hot_cost;
  const double spare = budget - minimum;
  // Level-1 rows in proportion to n_f from the hash share; the rest buys hot rows.
  CHECK(plan.fields[0].rows == 1 + static_cast<Index>(std::floor(0.2 * spare * 200000 / (row * 253000))));
  CHECK(plan.fields[1].rows == 1 + static_cast<Index>(std::floor(0.2 * spare * 50000 / (row * 253000))));
  double used = row;  // the full field
  for (Index f = 0; f < 3; ++f) used += static_cast<double>(plan.fields[f].rows) * row;
  CHECK(plan.hot_rows == static_cast<Index>(std::floor((budget - used) / hot_cost)));
  // About the spec's floor(N CR (1 - rho) 4d / (4d + 48)), less the free list's 4 B per row.
  CHECK(static_cast<double>(plan.hot_rows) == Approx(budget * 0.8 / (64.0 + 48.0)).epsilon(0.05));
  REQUIRE(c.sketch_count() == 1);
  CHECK(c.sketch(0).config().buckets == plan.hot_rows);
  const MemoryReport m = t->memory();
  CHECK(m.index_bytes == static_cast<std::size_t>(plan.hot_rows) * (4 * 12 + 4));
  CHECK(m.serving_bytes == m.parameter_bytes + m.index_bytes);
  CHECK(m.serving_bytes == plan.serving_bytes);
  CHECK(static_cast<double>(m.serving_bytes) <= budget);
  CHECK(static_cast<double>(m.serving_bytes) > budget - hot_cost);  // the budget is used

  // One sketch per field: hot rows split in proportion to n_f.
  auto p = make_table("cafe:layout=reference,sketch=per_field", {s, Budget{100}, 1});
  const CafeTable& pf = as_cafe(*p);
  REQUIRE(pf.sketch_count() == 3);
  CHECK(pf.sketch(0).config().hot_rows > 3 * pf.sketch(1).config().hot_rows);
  CHECK(static_cast<double>(p->memory().serving_bytes) <= budget);
}

TEST_CASE("cafe: cold ids read their field's hash row at gid mod m_f", "[methods][cafe]") {
  const Schema s = two_fields();
  auto t = make_table("cafe", {s, Budget{10}, 1});
  const CafeTable& c = as_cafe(*t);
  const Parameter& rows = *std::as_const(*t).parameters()[0];
  const auto ids = random_ids(s, 64, 3);
  const auto out = lookup(*t, ids);
  for (Index p = 0; p < static_cast<Index>(ids.size()); ++p) {
    const Index f = p % 2;
    const CafePlan::Field& field = c.plan().fields[f];
    const Index expected = field.base + (s.field_offset(f) + ids[p]) % field.rows;
    CHECK(c.hash_row_of(f, ids[p]) == expected);
    CHECK(std::equal(out.begin() + p * 8, out.begin() + p * 8 + 8, rows.row(expected)));
  }
}

TEST_CASE("cafe: importance totals N per field per batch, and lookups and backward never insert",
          "[methods][cafe]") {
  const Schema s = two_fields();
  auto t = make_table("cafe:threshold=1000", {s, Budget{10}, 1});
  const CafeTable& c = as_cafe(*t);
  const auto ids = random_ids(s, 128, 5);
  auto dE = random_values(ids.size() * 8, 6);
  lookup(*t, ids);
  Gradients grads;
  t->backward(batch_of(ids, s), {dE.data(), 256, 8}, grads);
  CHECK(c.sketch(0).inserted_since_decay() == 0.0);  // backward only remembers the batch
  Sgd sgd(0.1f);
  sgd.step(grads);
  t->after_step({1, 0, 0.0, &sgd});
  CHECK(c.sketch(0).inserted_since_decay() == Approx(2 * 128));
  t->after_step({2, 0, 0.0, &sgd});  // no new backward: nothing to insert
  CHECK(c.sketch(0).inserted_since_decay() == Approx(2 * 128));

  // Gradient importance: a position with dE = 0 adds nothing; frequency counts it.
  std::vector<Index> one = {5, 9, 6, 9};
  std::vector<float> d(4 * 8, 1.0f);
  std::fill(d.begin() + 8, d.begin() + 16, 0.0f);   // (field 1, id 9) of sample 0
  for (const char* spec : {"cafe:threshold=1000", "cafe:threshold=1000,importance=frequency"}) {
    auto u = make_table(spec, {s, Budget{10}, 1});
    train_step(*u, one, d, sgd);
    const float score = as_cafe(*u).query(1, 9).score;
    if (std::string(spec).find("frequency") != std::string::npos) {
      CHECK(score == 2.0f);
    } else {
      CHECK(score == Approx(2.0f));  // the one nonzero gradient takes the field's whole N = 2
      CHECK(as_cafe(*u).query(0, 5).score == Approx(1.0f));
    }
  }
}

TEST_CASE("cafe: promotion copies the embedding the feature used, in every field", "[methods][cafe]") {
  const Schema s = two_fields();
  auto t = make_table("cafe:threshold=6,importance=frequency", {s, Budget{10}, 1});
  CafeTable& c = as_cafe(*t);
  Adagrad opt(0.1f);
  const auto dE = random_values(64 * 2 * 8, 2);
  // Step 1: (field 1, id 7) gets score 4 (< 6); step 2 brings it to 8 on a hit: promoted.
  train_step(*t, batch_with(4, 64, 0), dE, opt, 1);
  CHECK(c.hot_row_of(1, 7) == -1);
  const Index hash_row = c.hash_row_of(1, 7);
  const auto ids = batch_with(4, 64, 1);
  const IdBatch batch = batch_of(ids, s);
  std::vector<float> out(ids.size() * 8);
  t->lookup(batch, {out.data(), batch.size(), 8});
  Gradients grads;
  t->backward(batch, {dE.data(), batch.size(), 8}, grads);
  opt.step(grads);
  const auto before = embedding_of(*t, 1, 7);  // the hash row after this step's update
  t->after_step({2, 0, 0.0, &opt});
  const Index hot = c.hot_row_of(1, 7);
  REQUIRE(hot >= 0);
  CHECK(embedding_of(*t, 1, 7) == before);  // promotion does not change the embedding
  const Parameter& rows = *std::as_const(*t).parameters()[0];
  const Parameter& hot_table = *std::as_const(*t).parameters()[1];
  CHECK(std::equal(before.begin(), before.end(), rows.row(hash_row)));
  CHECK(std::equal(before.begin(), before.end(), hot_table.row(hot)));
  // The optimizer state moved with the value: the hot row's accumulator is the hash row's.
  const std::vector<float>& rows_state = *opt.state(rows);
  const std::vector<float>& hot_state = *opt.state(hot_table);
  CHECK(std::equal(hot_state.begin() + hot * 8, hot_state.begin() + hot * 8 + 8,
                   rows_state.begin() + hash_row * 8));
  // From now on its gradient goes to the hot row only.
  const auto again = batch_with(1, 64, 2);
  t->backward(batch_of(again, s), {dE.data(), 128, 8}, grads);
  bool hot_updated = false;
  for (const auto& g : grads.sparse) {
    if (g.param == &hot_table) hot_updated = std::find(g.rows.begin(), g.rows.end(), hot) != g.rows.end();
  }
  CHECK(hot_updated);
}

namespace {

double statistic(const EmbeddingTable& t, const std::string& name) {
  for (const TableStatistic& s : t.statistics()) {
    if (s.name == name) return s.value;
  }
  FAIL("no statistic " << name);
  return 0.0;
}

}  // namespace

TEST_CASE("cafe: statistics count hot rows in use, tracked ids and decays", "[methods][cafe]") {
  const Schema s = two_fields();
  auto t = make_table("cafe:threshold=6,importance=frequency,decay=0.5", {s, Budget{10}, 1});
  const CafeTable& c = as_cafe(*t);
  Sgd opt(0.1f);
  const auto dE = random_values(64 * 2 * 8, 2);
  CHECK(statistic(*t, "hot_rows") == static_cast<double>(c.plan().hot_rows));
  CHECK(statistic(*t, "hot_rows_in_use") == 0.0);
  CHECK(statistic(*t, "tracked_ids") == 0.0);
  for (Index step = 0; step < 40; ++step) {
    train_step(*t, batch_with(4, 64, step), dE, opt, static_cast<std::uint64_t>(step + 1));
    Index tracked = 0;
    for (const SketchSlot& slot : c.sketch(0).slots()) tracked += slot.empty() ? 0 : 1;
    CHECK(statistic(*t, "tracked_ids") == static_cast<double>(tracked));
    CHECK(statistic(*t, "hot_rows_in_use") == static_cast<double>(c.sketch(0).hot_count()));
    CHECK(statistic(*t, "sketch_decays") == static_cast<double>(c.sketch(0).decays()));
  }
  CHECK(statistic(*t, "hot_rows_in_use") >= 1.0);  // (field 1, id 7) is hot
  CHECK(c.hot_row_of(1, 7) >= 0);
  CHECK(statistic(*t, "sketch_decays") >= 1.0);
  CHECK(statistic(*t, "threshold") == 6.0);
  CHECK(make_table("hash", {s, Budget{10}, 1})->statistics().empty());
}

TEST_CASE("cafe threshold=adaptive: T starts at 1, fills the hot rows and rises", "[methods][cafe]") {
  const Schema s = two_fields();
  for (const char* key : {"cafe", "cafe-ml"}) {
    INFO(key);
    auto t = make_table(std::string(key) + ":threshold=adaptive,importance=frequency", {s, Budget{10}, 1});
    const CafeTable& c = as_cafe(*t);
    CHECK(c.config().adaptive_threshold);
    CHECK(c.sketch(0).config().adaptive);
    CHECK(c.sketch(0).threshold() == 1.0f);
    Sgd opt(0.1f);
    const auto dE = random_values(64 * 2 * 8, 2);
    double most_in_use = 0.0;
    for (Index step = 0; step < 30; ++step) {
      train_step(*t, batch_with(8, 64, step), dE, opt, static_cast<std::uint64_t>(step + 1));
      most_in_use = std::max(most_in_use, statistic(*t, "hot_rows_in_use"));
    }
    // Full within the first steps; a raise then frees the rows of ids below the new T, which go
    // to the ids at or above it on their next hit.
    CHECK(most_in_use == statistic(*t, "hot_rows"));
    CHECK(c.sketch(0).adjustments() > 0);
    CHECK(statistic(*t, "threshold") > 1.0);
    CHECK(c.hot_row_of(1, 7) >= 0);  // 8 hits per batch: it keeps its row as T rises
    // The raised threshold is part of the table state.
    std::stringstream file;
    t->save(file);
    const auto loaded = load_table(file);
    CHECK(as_cafe(*loaded).sketch(0).threshold() == c.sketch(0).threshold());
    const auto ids = batch_with(8, 64, 99);
    CHECK(lookup(*loaded, ids) == lookup(*t, ids));
  }
  CHECK_THROWS_AS(make_table("cafe:threshold=sometimes", {s, Budget{10}, 1}), InvalidArgument);
}

TEST_CASE("cafe: demotion by decay returns the feature to its hash row", "[methods][cafe]") {
  const Schema s = two_fields();
  auto t = make_table("cafe:threshold=6,importance=frequency,decay=0.1", {s, Budget{10}, 1});
  CafeTable& c = as_cafe(*t);
  Sgd sgd(0.1f);
  const auto dE = random_values(64 * 2 * 8, 2);
  train_step(*t, batch_with(4, 64, 0), dE, sgd, 1);
  train_step(*t, batch_with(4, 64, 1), dE, sgd, 2);
  REQUIRE(c.hot_row_of(1, 7) >= 0);
  const HotSketch& sketch = c.sketch(0);
  // Feed batches without id 7 until a decay runs: score 8 x 0.1 < 6, so it is demoted.
  std::uint64_t step = 3;
  while (sketch.decays() == 0) train_step(*t, batch_with(0, 64, static_cast<Index>(step)), dE, sgd, step), ++step;
  CHECK(c.hot_row_of(1, 7) == -1);
  const Parameter& rows = *std::as_const(*t).parameters()[0];
  const auto now = embedding_of(*t, 1, 7);
  CHECK(std::equal(now.begin(), now.end(), rows.row(c.hash_row_of(1, 7))));
  CHECK(sketch.free_rows() + sketch.hot_count() == sketch.config().hot_rows);
}

TEST_CASE("cafe: checkpoints and the serving form keep the sketch and the free list", "[methods][cafe]") {
  const Schema s = two_fields();
  auto t = make_table("cafe:threshold=3,importance=frequency,decay=0.5", {s, Budget{10}, 1});
  Adam adam(0.01f);
  const auto dE = random_values(64 * 2 * 8, 2);
  for (std::uint64_t step = 1; step <= 40; ++step) {
    train_step(*t, batch_with(static_cast<Index>(step % 6), 64, static_cast<Index>(step % 5)), dE, adam, step);
  }
  const HotSketch& sketch = as_cafe(*t).sketch(0);
  REQUIRE(sketch.hot_count() > 0);
  REQUIRE(sketch.decays() > 0);
  std::stringstream file;
  t->save(file);
  auto loaded = load_table(file);
  const HotSketch& copy = as_cafe(*loaded).sketch(0);
  CHECK(copy.free_list() == sketch.free_list());
  CHECK(copy.inserted_since_decay() == sketch.inserted_since_decay());
  const auto ids = batch_with(3, 64, 9);
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
  auto frozen = t->freeze();
  CHECK(lookup(*frozen, ids) == lookup(*t, ids));
  CHECK(frozen->memory().serving_bytes == t->memory().serving_bytes);
  // Training both on with SGD (no optimizer state to carry) keeps them identical.
  Sgd a(0.1f), b(0.1f);
  for (std::uint64_t step = 41; step <= 60; ++step) {
    const auto batch = batch_with(static_cast<Index>(step % 7), 64, static_cast<Index>(step));
    train_step(*t, batch, dE, a, step);
    train_step(*loaded, batch, dE, b, step);
  }
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
  CHECK(as_cafe(*loaded).sketch(0).free_list() == sketch.free_list());
}

TEST_CASE("cafe: small fields stay full, and infeasible budgets name the highest ratio", "[methods][cafe]") {
  const Schema s = small_schema();  // {1000, 37, 5, 250, 1}
  auto t = make_table("cafe", {s, Budget{3}, 1});
  const CafeTable& c = as_cafe(*t);
  CHECK_FALSE(c.plan().fields[0].full);
  for (Index f = 1; f < 5; ++f) CHECK(c.plan().fields[f].full);  // n_f <= 2000 / 3
  // A full field reads its own row: distinct ids, distinct embeddings.
  std::vector<Index> ids;
  for (Index i = 0; i < 37; ++i) ids.insert(ids.end(), {0, i, 0, 0, 0});
  const auto out = lookup(*t, ids);
  std::set<std::vector<float>> distinct;
  for (Index i = 0; i < 37; ++i) distinct.insert({out.begin() + (i * 5 + 1) * 8, out.begin() + (i * 5 + 2) * 8});
  CHECK(distinct.size() == 37);
  try {
    make_table("cafe", {s, Budget{1e9}, 1});
    FAIL("1e9 cannot fit");
  } catch (const InfeasibleBudget& e) {
    auto best = make_table("cafe", {s, Budget{e.limit_ratio() * (1 - 1e-9)}, 1});
    CHECK(best->memory().ratio() >= e.limit_ratio() * (1 - 1e-6));
    CHECK_THROWS_AS(make_table("cafe", {s, Budget{e.limit_ratio() * 1.01}, 1}), InfeasibleBudget);
  }
}

TEST_CASE("cafe: learns a skewed planted task better than hash at the same budget", "[methods][cafe]") {
  // Zipf-like ids over two large fields; the label depends on per-id effects. Few ids carry
  // most of the traffic, so giving them their own rows pays off. The claim "cafe > hash" is a
  // paired one-sided t-test over 5 seeds (task, sampling and table) at the 1% level: the mean
  // AUC difference must exceed t(0.99, 4) = 3.75 standard errors, so a cafe no better than hash
  // passes with probability below 1%, whatever one seed happens to give. cafe runs in the
  // paper's layout (per-field cold tables keep the two fields' hot heads apart; the shared
  // layout's gain here, +0.014 to +0.024, is not significant over 5 seeds). hash buckets by xxhash:
  // CAFE's case is ids nobody ranked in advance (with ranked ids hash=auto takes modulo, which
  // here puts both fields' heads in the same rows, as 20000 = 0 mod its 400 rows).
  const Schema s{{20000, 20000}, 8};
  const double ratio = 100;
  auto run = [&](const std::string& spec, std::uint64_t seed) {
    auto table = make_table(spec, {s, Budget{ratio}, seed});
    std::mt19937_64 rng(seed);
    std::vector<float> effect(40000);
    std::normal_distribution<float> normal(0.0f, 1.5f);
    for (auto& e : effect) e = normal(rng);
    auto sample = [&](Index batch, std::vector<Index>& ids, std::vector<float>& labels) {
      ids.resize(static_cast<std::size_t>(batch * 2));
      labels.resize(static_cast<std::size_t>(batch));
      std::uniform_real_distribution<double> u(0, 1);
      for (Index b = 0; b < batch; ++b) {
        float z = 0.0f;
        for (Index f = 0; f < 2; ++f) {
          const auto id = static_cast<Index>(std::floor(std::pow(20000.0, u(rng)))) - 1;  // ~1/x
          ids[b * 2 + f] = id;
          z += effect[f * 20000 + id];
        }
        labels[b] = u(rng) < 1.0 / (1.0 + std::exp(-z)) ? 1.0f : 0.0f;
      }
    };
    Adam adam(0.05f);
    std::vector<Index> ids;
    std::vector<float> labels, emb, dE;
    const Index batch = 256;
    auto logits = [&](Index b) {
      float z = 0.0f;
      for (Index i = 0; i < 16; ++i) z += emb[b * 16 + i];
      return z;
    };
    for (std::uint64_t step = 1; step <= 300; ++step) {
      sample(batch, ids, labels);
      emb.resize(static_cast<std::size_t>(batch * 16));
      dE.resize(emb.size());
      table->lookup(batch_of(ids, s), {emb.data(), batch * 2, 8});
      for (Index b = 0; b < batch; ++b) {
        const float g = (1.0f / (1.0f + std::exp(-logits(b))) - labels[b]) / static_cast<float>(batch);
        std::fill_n(dE.data() + b * 16, 16, g);
      }
      Gradients grads;
      table->backward(batch_of(ids, s), {dE.data(), batch * 2, 8}, grads);
      adam.step(grads);
      table->after_step({step, 0, 0.0, &adam});
    }
    std::vector<float> p, y;
    for (int k = 0; k < 8; ++k) {
      sample(batch, ids, labels);
      table->lookup(batch_of(ids, s), {emb.data(), batch * 2, 8});
      for (Index b = 0; b < batch; ++b) p.push_back(1.0f / (1.0f + std::exp(-logits(b))));
      y.insert(y.end(), labels.begin(), labels.end());
    }
    return exact_auc(p, y);
  };
  std::vector<double> differences;
  std::ostringstream runs;
  for (std::uint64_t seed : {17u, 18u, 19u, 20u, 21u}) {
    const double cafe = run("cafe:layout=reference,threshold=20", seed);
    const double hash = run("hash:hash=xxhash", seed);
    differences.push_back(cafe - hash);
    runs << " seed " << seed << ": cafe " << cafe << " hash " << hash << ";";
  }
  const MeanAndError d = mean_and_error(differences);
  INFO(runs.str() << " mean difference " << d.mean << " +- " << d.se);
  CHECK(d.mean > student_t99(differences.size() - 1) * d.se);
}

TEST_CASE("cafe hash_tables=shared: one level-1 table for every compressed field", "[methods][cafe]") {
  const Schema s{{3000, 1000, 40, 2}, 8};
  auto t = make_table("cafe:hash_tables=shared,full_below=2", {s, Budget{20}, 1});
  const CafeTable& c = as_cafe(*t);
  const CafePlan& plan = c.plan();
  REQUIRE(plan.fields[3].full);
  const Index base = plan.fields[0].base, m = plan.fields[0].rows;
  for (Index f = 0; f < 3; ++f) {
    CHECK(plan.fields[f].base == base);
    CHECK(plan.fields[f].rows == m);
  }
  CHECK(plan.table_rows == 2 + m);
  const auto ids = random_ids(s, 32, 4);
  for (Index p = 0; p < static_cast<Index>(ids.size()); ++p) {
    const Index f = p % 4;
    if (f == 3) continue;
    CHECK(c.hash_row_of(f, ids[p]) == base + (s.field_offset(f) + ids[p]) % m);
  }
  CHECK(static_cast<double>(t->memory().serving_bytes) <= Budget{20}.bytes(s));
  // The smallest form needs one hash row in all (not one per field): a higher reachable ratio.
  double shared_limit = 0, per_field_limit = 0;
  try { make_table("cafe:hash_tables=shared,full_below=0", {s, Budget{1e9}, 1}); } catch (const InfeasibleBudget& e) { shared_limit = e.limit_ratio(); }
  try { make_table("cafe:hash_tables=per_field,full_below=0", {s, Budget{1e9}, 1}); } catch (const InfeasibleBudget& e) { per_field_limit = e.limit_ratio(); }
  CHECK(shared_limit > per_field_limit);
  CHECK(per_field_limit > 0);
}
