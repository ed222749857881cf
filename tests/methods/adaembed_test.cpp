#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <sstream>

#include "embcomp/methods/adaembed.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Counts with many ties and unseen ids: count = Zipf-like value of a shuffled rank, every
/// fifth id unseen (0).
std::shared_ptr<const IdCounts> tied_counts(const Schema& s, unsigned seed) {
  std::mt19937_64 rng(seed);
  auto counts = std::make_shared<IdCounts>();
  for (Index n : s.cardinalities) {
    std::vector<std::uint64_t> c(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = i % 5 == 4 ? 0 : 1 + 200 / (1 + i / 3);
    std::shuffle(c.begin(), c.end(), rng);
    counts->push_back(std::move(c));
  }
  return counts;
}

/// The naive map of field f, id -> row, from the table's routes: hot ids are the top h_f by
/// (count desc, id asc) found by a full sort; a hot id's row is its place among them, a cold
/// id's the bucket of (key offset + the cold ids below it).
std::vector<Index> naive_rows(const AdaEmbedTable& t, Index f, bool xxhash = false) {
  const AdaRoute& r = t.route(f);
  const Index n = t.schema().cardinalities[static_cast<std::size_t>(f)];
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    const auto ca = t.args().count_or_rank(f, a), cb = t.args().count_or_rank(f, b);
    return ca != cb ? ca > cb : a < b;
  });
  std::vector<bool> hot(static_cast<std::size_t>(n), false);
  for (Index k = 0; k < r.hot; ++k) {
    if (r.hot < n) REQUIRE(t.args().count_or_rank(f, order[k]) > 0);  // unseen ids stay cold
    hot[static_cast<std::size_t>(order[k])] = true;
  }
  std::vector<Index> rows;
  Index hot_below = 0, cold_below = 0;
  for (Index x = 0; x < n; ++x) {
    if (hot[static_cast<std::size_t>(x)]) {
      rows.push_back(r.hot_base + hot_below++);
      continue;
    }
    const auto key = static_cast<std::uint64_t>(r.key_offset + cold_below++);
    const auto m = static_cast<std::uint64_t>(r.cold_rows);
    rows.push_back(r.cold_base + static_cast<Index>(xxhash ? kernels::xxhash64(key, r.seed) % m : key % m));
  }
  return rows;
}

void check_routing(const AdaEmbedTable& t, bool xxhash = false) {
  for (Index f = 0; f < t.schema().num_fields(); ++f) {
    const auto rows = naive_rows(t, f, xxhash);
    for (Index x = 0; x < static_cast<Index>(rows.size()); ++x) {
      INFO("field " << f << " id " << x);
      REQUIRE(t.row_of_id(f, x) == rows[static_cast<std::size_t>(x)]);
    }
  }
}

std::unique_ptr<AdaEmbedTable> ada(const std::string& spec, const Schema& s, double ratio,
                                   std::shared_ptr<const IdCounts> counts = {}) {
  return make_method<AdaEmbedTable>(spec, {s, Budget{ratio}, 1, std::move(counts)});
}

std::size_t set_count(const AdaEmbedTable& t, HotSet set) {
  std::size_t k = 0;
  for (Index f = 0; f < t.schema().num_fields(); ++f) k += t.route(f).set == static_cast<std::int64_t>(set) ? 1 : 0;
  return k;
}

}  // namespace

TEST_CASE("adaembed: routing equals a naive id-to-row map, with counts and without",
          "[methods][adaembed]") {
  const Schema s{{5000, 700, 37, 5, 1}, 8};
  const auto counts = tied_counts(s, 3);
  for (const std::string spec : {"adaembed", "adaembed:cold_tables=shared", "adaembed:hash=xxhash",
                                 "adaembed:select=per_field",
                                 "adaembed:cold_tables=shared,hash=xxhash,threshold=40"}) {
    for (double ratio : {3.0, 40.0}) {
      INFO(spec << " at " << ratio << "x");
      const bool xxhash = spec.find("xxhash") != std::string::npos;
      check_routing(*ada(spec, s, ratio), xxhash);
      check_routing(*ada(spec, s, ratio, counts), xxhash);
    }
  }
  // Both encodings of a hot set occur: the bitset where h_f > 3 n_f / 64, else the sorted list.
  CHECK(set_count(*ada("adaembed", s, 3.0, counts), HotSet::bitset) > 0);
  CHECK(set_count(*ada("adaembed", s, 40.0, counts), HotSet::sorted) > 0);
  CHECK(set_count(*ada("adaembed:select=per_field", s, 3.0, counts), HotSet::bitset) > 0);
  // Without counts the hot set is the rank prefix, stored as nothing.
  auto plain = ada("adaembed", s, 3.0);
  CHECK(set_count(*plain, HotSet::prefix) == 5);
  CHECK(plain->is_hot(0, 0));
  CHECK_FALSE(plain->is_hot(0, 4999));
}

TEST_CASE("adaembed: select=global takes the top scores of all fields together",
          "[methods][adaembed]") {
  const Schema s{{5000, 700, 37, 5, 1}, 8};
  const auto counts = tied_counts(s, 4);
  for (bool with_counts : {false, true}) {
    for (double ratio : {3.0, 40.0}) {
      INFO("counts " << with_counts << " at " << ratio << "x");
      auto t = ada("adaembed", s, ratio, with_counts ? counts : nullptr);
      // Every id as (score desc, field, id); the score is the count, or -rank without counts.
      struct Key {
        double score;
        Index field, id;
      };
      std::vector<Key> all;
      Index hot = 0;
      for (Index f = 0; f < s.num_fields(); ++f) {
        hot += t->route(f).hot;
        for (Index x = 0; x < s.cardinalities[static_cast<std::size_t>(f)]; ++x) {
          const double score = with_counts ? static_cast<double>((*counts)[static_cast<std::size_t>(f)][static_cast<std::size_t>(x)])
                                           : -static_cast<double>(x);
          all.push_back({score, f, x});
        }
      }
      std::sort(all.begin(), all.end(), [](const Key& a, const Key& b) {
        return a.score != b.score ? a.score > b.score : a.field != b.field ? a.field < b.field : a.id < b.id;
      });
      REQUIRE(hot > 0);
      for (std::size_t k = 0; k < all.size(); ++k) {
        REQUIRE(t->is_hot(all[k].field, all[k].id) == (k < static_cast<std::size_t>(hot)));
      }
    }
  }
}

TEST_CASE("adaembed: hot ids are the top counts, ties by id, unseen ids cold",
          "[methods][adaembed]") {
  const Schema s{{10}, 32};  // routes (64 B) are small next to 128-byte rows
  // Ids 2, 5, 7 tie at 9; 0 and 9 are unseen.
  auto counts = std::make_shared<const IdCounts>(IdCounts{{0, 3, 9, 1, 4, 9, 2, 9, 5, 0}});
  auto t = make_method<AdaEmbedTable>("adaembed:top_percent=0.2", {s, Budget{1.2}, 1, counts});
  REQUIRE(t->route(0).hot == 2);
  std::vector<Index> hot;
  for (Index x = 0; x < 10; ++x) {
    if (t->is_hot(0, x)) hot.push_back(x);
  }
  CHECK(hot == std::vector<Index>{2, 5});
  // At top_percent = 1 only the 8 seen ids are hot.
  auto all = make_method<AdaEmbedTable>("adaembed:top_percent=1", {s, Budget{1}, 1, counts});
  CHECK(all->route(0).hot == 8);
  CHECK_FALSE(all->is_hot(0, 0));
  CHECK_FALSE(all->is_hot(0, 9));
}

TEST_CASE("adaembed: lookup is a gather of the routed rows, backward sums them sparsely",
          "[methods][adaembed]") {
  const Schema s = small_schema();
  for (const std::string spec : {"adaembed", "adaembed:cold_tables=shared"}) {
    INFO(spec);
    auto t = ada(spec, s, 6.0, tied_counts(s, 5));
    const Parameter& w = *param_named(*t, "rows");
    const auto ids = random_ids(s, 200, 9);
    const auto out = lookup(*t, ids);
    std::map<Index, std::vector<double>> expected;
    const auto dE = random_values(out.size(), 4);
    for (Index p = 0; p < static_cast<Index>(ids.size()); ++p) {
      const Index f = p % s.num_fields();
      const Index row = naive_rows(*t, f)[static_cast<std::size_t>(ids[p])];
      REQUIRE(std::equal(w.row(row), w.row(row) + s.dim, out.begin() + p * s.dim));
      auto& g = expected[row];
      g.resize(static_cast<std::size_t>(s.dim), 0.0);
      for (Index k = 0; k < s.dim; ++k) g[static_cast<std::size_t>(k)] += dE[static_cast<std::size_t>(p * s.dim + k)];
    }
    const Gradients grads = backward_of(*t, ids, dE);
    REQUIRE(grads.sparse.size() == 1);
    const SparseGrad& g = grads.sparse[0];
    REQUIRE(static_cast<std::size_t>(g.count()) == expected.size());
    for (Index i = 0; i < g.count(); ++i) {
      const auto& e = expected.at(g.rows[i]);
      for (Index k = 0; k < s.dim; ++k) CHECK(g.row(i)[k] == Approx(e[static_cast<std::size_t>(k)]).margin(1e-5));
    }
  }
}

TEST_CASE("adaembed: sizing counts rows, routes and hot sets within the budget",
          "[methods][adaembed]") {
  const Schema s{{20000, 3000, 200, 20}, 16};
  const double row = 64, routes = 4 * sizeof(AdaRoute);
  for (const std::string spec : {"adaembed", "adaembed:cold_tables=shared", "adaembed:hot_share=0.2"}) {
    for (double ratio : {2.0, 10.0, 100.0, 1000.0}) {
      for (bool with_counts : {false, true}) {
        INFO(spec << " at " << ratio << "x, counts " << with_counts);
        auto t = ada(spec, s, ratio, with_counts ? tied_counts(s, 2) : nullptr);
        const AdaPlan& plan = t->sizing();
        const MemoryReport m = t->memory();
        const double budget = std::floor(s.full_bytes() / ratio);
        CHECK(static_cast<double>(m.serving_bytes) == plan.serving_bytes);
        CHECK(m.serving_bytes == m.parameter_bytes + m.index_bytes);
        CHECK(static_cast<double>(m.parameter_bytes) == static_cast<double>(plan.rows) * row);
        CHECK(static_cast<double>(m.serving_bytes) <= budget);
        if (!with_counts) CHECK(static_cast<double>(m.index_bytes) == routes);
        // Every byte is used but for less than a row (or a hot id with its set entry), unless
        // every id already has a row.
        Index hot = 0;
        for (Index h : plan.hot) hot += h;
        if (plan.rows < s.total_rows() && hot < s.total_rows()) {
          CHECK(static_cast<double>(m.serving_bytes) > budget - 5 * row - 12.0 * 4);
        }
        // Hot rows take hot_share of the spare budget, to within one row per field's floor.
        const double share = spec.find("0.2") != std::string::npos ? 0.2 : 0.5;
        const Index tables = spec.find("shared") != std::string::npos ? 1 : 4;
        const double spare = budget - routes - static_cast<double>(tables) * row;
        CHECK(static_cast<double>(m.index_bytes) - routes + static_cast<double>(hot) * row <= share * spare);
        if (ratio > 2.0) {
          CHECK(static_cast<double>(hot) * row > share * spare - 4 * 2 * (row + 4) - 12.0 * 400);
        }
      }
    }
  }
}

TEST_CASE("adaembed: fixed top_percent, threshold and refused options", "[methods][adaembed]") {
  const Schema s{{20000, 3000, 200, 20}, 16};
  // per_field: 5% of each field's ids; global: 5% of all 23,220 ids (1,161), the fields taking
  // ranks in turn (the two small fields whole, ranks 0..469 of the others, rank 470 to field 0).
  auto t = ada("adaembed:top_percent=0.05,select=per_field", s, 10.0);
  CHECK(t->sizing().hot == std::vector<Index>{1000, 150, 10, 1});
  CHECK(ada("adaembed:top_percent=0.05", s, 10.0)->sizing().hot == std::vector<Index>{471, 470, 200, 20});
  auto k = ada("adaembed:threshold=200", s, 10.0);
  CHECK(k->route(2).hot == 200);
  CHECK(k->route(2).cold_rows == 0);
  CHECK(k->route(3).hot == 20);
  CHECK(k->row_of_id(2, 199) == k->route(2).hot_base + 199);
  CHECK_THROWS_WITH(ada("adaembed:top_percent=0.1,hot_share=0.3", s, 10.0),
                    Catch::Contains("hot_share=0.3") && Catch::Contains("top_percent"));
  CHECK_THROWS_AS(ada("adaembed:hot_share=1.5", s, 10.0), InvalidArgument);
  CHECK_THROWS_AS(ada("adaembed:top_percent=2", s, 10.0), InvalidArgument);
  CHECK_THROWS_AS(ada("adaembed:cold_tables=both", s, 10.0), InvalidArgument);
  CHECK_NOTHROW(make_table(t->spec(), {s, Budget{10}, 1}));
}

TEST_CASE("adaembed: an infeasible budget names the highest ratio", "[methods][adaembed]") {
  const Schema s{{20000, 3000, 200, 20}, 16};
  // The smallest form: the routes and one cold row per field (no hot rows).
  const double smallest = 4 * sizeof(AdaRoute) + 4 * 64;
  const double limit = s.full_bytes() / smallest;
  try {
    ada("adaembed", s, limit * 1.01);
    FAIL("expected InfeasibleBudget");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == Approx(limit));
    CHECK_THAT(e.what(), Catch::Contains("adaembed") && Catch::Contains("highest ratio"));
  }
  CHECK(ada("adaembed", s, limit * (1 - 1e-9))->memory().ratio() >= limit * (1 - 1e-6));
  // One shared cold table reaches further.
  CHECK_NOTHROW(ada("adaembed:cold_tables=shared", s, limit * 1.01));
  // A fixed top_percent must fit its hot rows.
  CHECK_THROWS_AS(ada("adaembed:top_percent=0.5", s, 10.0), InfeasibleBudget);
}

TEST_CASE("adaembed: save and load round trip, without the counts", "[methods][adaembed]") {
  const Schema s{{5000, 700, 37, 5, 1}, 8};
  for (double ratio : {3.0, 40.0}) {
    auto t = ada("adaembed:cold_tables=shared", s, ratio, tied_counts(s, 8));
    std::stringstream file;
    t->save(file);
    const auto loaded = load_table(file);
    const auto* back = dynamic_cast<const AdaEmbedTable*>(loaded.get());
    REQUIRE(back != nullptr);
    for (Index f = 0; f < s.num_fields(); ++f) {
      for (Index x = 0; x < s.cardinalities[static_cast<std::size_t>(f)]; ++x) {
        REQUIRE(back->row_of_id(f, x) == t->row_of_id(f, x));
      }
    }
    const auto ids = random_ids(s, 100, 2);
    CHECK(lookup(*back, ids) == lookup(*t, ids));
    CHECK(back->memory().serving_bytes == t->memory().serving_bytes);
  }
}

TEST_CASE("adaembed: learns the planted task", "[methods][adaembed]") {
  const Schema s = small_schema();
  auto t = make_table("adaembed", {s, Budget{4}, 1});
  CHECK(train_planted_task_auc(*t) > 0.6);
}
