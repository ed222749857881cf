#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "embcomp/data/schemas.hpp"
#include "embcomp/methods/tt.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Naive floats of a TT plan at rank R: (n0 d0 + n1 d1 R + n2 d2) R per table, computed from
/// the factors written out, each table full where that is smaller or it is at the threshold.
double naive_floats(const std::vector<Index>& sizes, Index d, Index R, long long threshold = 0) {
  const auto dims = kernels::tt_dim_factors(d);
  double floats = 0;
  for (Index n : sizes) {
    const Index a = ceil_root(n, 3);
    Index b = 1;
    while (b * b * a < n) ++b;
    const Index c = (n + a * b - 1) / (a * b);
    const double tt = static_cast<double>((c * dims[0] + b * dims[1] * R + a * dims[2]) * R);
    const double full = static_cast<double>(n * d);
    floats += (n > threshold && tt < full) ? tt : full;
  }
  return floats;
}

/// Lookup and gradients of a TtTable recomputed per id from its parameters, in double.
struct NaiveTt {
  explicit NaiveTt(const TtTable& table) : t(table), plan(table.sizing()) {
    Index rows[3] = {0, 0, 0}, full = 0;
    for (const TtPlan::Table& tab : plan.tables) {
      base.push_back({rows[0], rows[1], rows[2]});
      full_base.push_back(full);
      if (tab.compressed) {
        for (int c = 0; c < 3; ++c) rows[c] += tab.shape.rows[c];
      } else {
        full += tab.ids;
      }
    }
    for (int c = 0; c < 3; ++c) core[c] = param_named(t, "core" + std::to_string(c));
    F = param_named(t, "full");
    C = param_named(t, "cache");
    keys = table.cached_keys();
  }

  /// The cache row of field f's id, or -1: a linear search of the keys.
  Index cached_row(Index f, Index id) const {
    const Index global = t.schema().field_offset(f) + id;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == global) return static_cast<Index>(i);
    }
    return -1;
  }

  /// The table id position p reads and its key there.
  std::pair<std::size_t, Index> table_of(Index f, Index id) const {
    if (!plan.shared) return {static_cast<std::size_t>(f), id};
    Index offset = 0;
    for (Index g = 0; g < f; ++g) offset += t.schema().cardinalities[g];
    return {0, offset + id};
  }

  /// Core rows of key x in table `tab`: x = i0 + n0 (i1 + n1 i2), written out.
  std::array<Index, 3> rows_of(std::size_t tab, Index x) const {
    const auto& n = plan.tables[tab].shape.rows;
    return {base[tab][0] + x % n[0], base[tab][1] + (x / n[0]) % n[1], base[tab][2] + x / (n[0] * n[1])};
  }

  std::vector<double> lookup(const std::vector<Index>& ids) const {
    const Index d = t.dim(), fields = t.schema().num_fields();
    std::vector<double> out(ids.size() * static_cast<std::size_t>(d), 0.0);
    for (std::size_t p = 0; p < ids.size(); ++p) {
      const auto [tab, x] = table_of(static_cast<Index>(p) % fields, ids[p]);
      double* e = out.data() + p * static_cast<std::size_t>(d);
      if (!plan.tables[tab].compressed) {
        for (Index k = 0; k < d; ++k) e[k] = F->row(full_base[tab] + x)[k];
        continue;
      }
      if (const Index c = cached_row(static_cast<Index>(p) % fields, ids[p]); c >= 0) {
        for (Index k = 0; k < d; ++k) e[k] = C->row(c)[k];
        continue;
      }
      for_each_term(tab, x, [&](Index k, Index, Index, Index, double v) { e[k] += v; });
    }
    return out;
  }

  /// Dense gradients of core0..2, full and cache for the output gradient dE.
  std::array<std::vector<double>, 5> backward(const std::vector<Index>& ids, const std::vector<float>& dE) const {
    const Index d = t.dim(), fields = t.schema().num_fields();
    std::array<std::vector<double>, 5> grads;
    for (int c = 0; c < 5; ++c) {
      const Parameter* p = c < 3 ? core[c] : c == 3 ? F : C;
      grads[c].assign(p == nullptr ? 0 : p->size(), 0.0);
    }
    for (std::size_t p = 0; p < ids.size(); ++p) {
      const auto [tab, x] = table_of(static_cast<Index>(p) % fields, ids[p]);
      const float* g = dE.data() + p * static_cast<std::size_t>(d);
      if (!plan.tables[tab].compressed) {
        for (Index k = 0; k < d; ++k) grads[3][(full_base[tab] + x) * d + k] += g[k];
        continue;
      }
      if (const Index c = cached_row(static_cast<Index>(p) % fields, ids[p]); c >= 0) {
        for (Index k = 0; k < d; ++k) grads[4][c * d + k] += g[k];
        continue;
      }
      const auto r = rows_of(tab, x);
      for_each_term(tab, x, [&](Index k, Index i0, Index i1, Index i2, double) {
        const double v0 = core[0]->row(r[0])[i0], v1 = core[1]->row(r[1])[i1], v2 = core[2]->row(r[2])[i2];
        grads[0][r[0] * core[0]->width() + i0] += g[k] * v1 * v2;
        grads[1][r[1] * core[1]->width() + i1] += g[k] * v0 * v2;
        grads[2][r[2] * core[2]->width() + i2] += g[k] * v0 * v1;
      });
    }
    return grads;
  }

  /// fn(k, i0, i1, i2, G0[i0] G1[i1] G2[i2]) for every term of e[k] = sum_{r1, r2} ...
  template <class Fn>
  void for_each_term(std::size_t tab, Index x, Fn fn) const {
    const auto r = rows_of(tab, x);
    const Index R = plan.rank;
    const auto& dims = plan.tables[tab].shape.dims;
    for (Index a = 0; a < dims[0]; ++a)
      for (Index b = 0; b < dims[1]; ++b)
        for (Index c = 0; c < dims[2]; ++c)
          for (Index r1 = 0; r1 < R; ++r1)
            for (Index r2 = 0; r2 < R; ++r2) {
              const Index i0 = a * R + r1, i1 = (r1 * dims[1] + b) * R + r2, i2 = r2 * dims[2] + c;
              fn((a * dims[1] + b) * dims[2] + c, i0, i1, i2,
                 double{core[0]->row(r[0])[i0]} * core[1]->row(r[1])[i1] * core[2]->row(r[2])[i2]);
            }
  }

  const TtTable& t;
  TtPlan plan;
  std::vector<std::array<Index, 3>> base;
  std::vector<Index> full_base;
  const Parameter* core[3] = {nullptr, nullptr, nullptr};
  const Parameter* F = nullptr;
  const Parameter* C = nullptr;
  std::vector<Index> keys;
};

/// got == expected up to float rounding: relative 1e-4, and 1e-5 of the largest |expected|
/// (the reference init's entries are O(1) and cancel in sums of R^2 terms).
template <class Got>
void check_close(const Got& got, const std::vector<double>& expected) {
  REQUIRE(got.size() == expected.size());
  double largest = 1e-2;
  for (double v : expected) largest = std::max(largest, std::fabs(v));
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == Approx(expected[i]).epsilon(1e-4).margin(1e-5 * largest));
  }
}

}  // namespace

TEST_CASE("tt: ranks on the Criteo Kaggle schema are the spec's", "[methods][tt]") {
  // Spec §3 (b), computed at cr = 0.5/0.1/0.01/0.001: one table 645/287/89/27, per field
  // 376/157/46/13.
  const Schema criteo = criteo_kaggle_schema();
  const std::vector<double> ratios = {2, 10, 100, 1000};
  const std::vector<Index> shared = {645, 287, 89, 27}, per_field = {376, 157, 46, 13};
  for (std::size_t i = 0; i < ratios.size(); ++i) {
    INFO("ratio " << ratios[i]);
    const double limit = Budget{ratios[i]}.bytes(criteo) / 4;
    const TtPlan one = TtTable::plan(criteo, Budget{ratios[i]}, true, 0);
    CHECK(one.rank == shared[i]);
    CHECK(static_cast<double>(one.floats) == naive_floats({criteo.total_rows()}, 16, one.rank));
    CHECK(naive_floats({criteo.total_rows()}, 16, one.rank + 1) > limit);  // the largest
    const TtPlan each = TtTable::plan(criteo, Budget{ratios[i]}, false, 0);
    CHECK(each.rank == per_field[i]);
    CHECK(static_cast<double>(each.floats) == naive_floats(criteo.cardinalities, 16, each.rank));
    CHECK(naive_floats(criteo.cardinalities, 16, each.rank + 1) > limit);
    CHECK(static_cast<double>(each.bytes()) <= limit * 4);
  }
}

TEST_CASE("tt: an infeasible ratio names the ratio of rank 1", "[methods][tt]") {
  const Schema criteo = criteo_kaggle_schema();
  const double floor_floats = naive_floats(criteo.cardinalities, 16, 1);
  try {
    TtTable::plan(criteo, Budget{1e6}, false, 0);
    FAIL("ratio 1e6 cannot be feasible");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == Approx(criteo.full_bytes() / (floor_floats * 4)).epsilon(1e-12));
  }
  CHECK(TtTable::plan(criteo, Budget{criteo.full_bytes() / (floor_floats * 4) * (1 - 1e-9)}, false, 0).rank == 1);
}

TEST_CASE("tt: lookup and backward match a per-id einsum, per field and shared", "[methods][tt]") {
  const Schema s = small_schema(12);  // dims 2 x 2 x 3
  for (const std::string spec : {"tt:cache=0", "tt:tables=shared,cache=0", "tt:threshold=40",
                                 "tt:init=reference", "tt", "tt:tables=shared,cache=0.5"}) {
    INFO("spec " << spec);
    auto table = make_method<TtTable>(spec, {s, Budget{4}, 3});
    const NaiveTt naive(*table);
    REQUIRE(naive.core[0] != nullptr);
    CHECK(table->rank() > 1);
    const auto ids = random_ids(s, 120, 11);  // 600 positions: the parallel path, repeated rows
    check_close(lookup(*table, ids), naive.lookup(ids));
    const auto dE = random_values(ids.size() * static_cast<std::size_t>(s.dim), 5);
    const Gradients grads = backward_of(*table, ids, dE);
    const auto expected = naive.backward(ids, dE);
    for (int c = 0; c < 3; ++c) check_close(densify(grads, naive.core[c]), expected[c]);
    if (naive.F != nullptr) check_close(densify(grads, naive.F), expected[3]);
    if (naive.C != nullptr) check_close(densify(grads, naive.C), expected[4]);
    CHECK((naive.C == nullptr) == table->spec().ends_with(",cache=0"));
    const MemoryReport memory = table->memory();
    CHECK(static_cast<double>(memory.serving_bytes) <= Budget{4}.bytes(s));
    CHECK(memory.serving_bytes == table->sizing().bytes());
  }
}

TEST_CASE("tt: threshold keeps small fields full, and applies to per_field only", "[methods][tt]") {
  const Schema s = small_schema();  // {1000, 37, 5, 250, 1}
  auto table = make_method<TtTable>("tt:threshold=40", {s, Budget{3}, 1});
  std::vector<bool> compressed;
  for (const auto& t : table->sizing().tables) compressed.push_back(t.compressed);
  CHECK(compressed == std::vector<bool>{true, false, false, true, false});
  CHECK(param_named(*table, "full")->rows() == 37 + 5 + 1);
  CHECK(static_cast<double>(table->sizing().floats) == naive_floats(s.cardinalities, 8, table->rank(), 40));
  CHECK_THROWS_WITH(make_table("tt:tables=shared,threshold=40", {s, Budget{3}, 1}),
                    Catch::Contains("threshold=40") && Catch::Contains("no effect with tables=shared"));
  CHECK_THROWS_AS(make_table("tt:init=xavier", {s, Budget{3}, 1}), InvalidArgument);
}

TEST_CASE("tt: the matched init gives embeddings the variance of a full table's init", "[methods][tt]") {
  // Entry e = sum of R^2 products of three U(+-s) entries: Var(e) = R^2 (s^2/3)^3, set to b^2/3
  // (b = 1/sqrt(max n_f)). Over 2000 ids x 8 entries of one table the sample variance has a
  // relative standard error of about sqrt(2 / 16000) plus the correlation between ids that
  // share core rows; 25% is many standard errors wide, and the reference init is 1e5x larger.
  const Schema s{{8000}, 8};
  const double b = 1.0 / std::sqrt(8000.0);
  std::vector<Index> ids(2000);
  for (Index i = 0; i < 2000; ++i) ids[i] = i * 4;
  for (const std::string init : {"matched", "reference"}) {
    INFO("init " << init);
    auto table = make_method<TtTable>("tt:cache=0,init=" + init, {s, Budget{10}, 5});
    const auto out = lookup(*table, ids);
    double sq = 0;
    for (float v : out) sq += double{v} * v;
    const double variance = sq / static_cast<double>(out.size());
    if (init == "matched") {
      CHECK(variance == Approx(b * b / 3).epsilon(0.25));
    } else {
      // The spec's pitfall: ~R^2 (5.75 sigma^2)^3 with sigma^6 = 3 / (n0 n1 n2).
      const auto& n = table->sizing().tables[0].shape.rows;
      const double R = static_cast<double>(table->rank());
      const double expected = R * R * std::pow(5.75, 3) * 3.0 / static_cast<double>(n[0] * n[1] * n[2]);
      CHECK(variance == Approx(expected).epsilon(0.5));
      CHECK(variance > 1e4 * b * b);
    }
  }
}

TEST_CASE("tt: the cache holds the hottest ids, by counts or by rank, within the budget", "[methods][tt]") {
  const Schema s = small_schema();  // {1000, 37, 5, 250, 1}
  // Without counts: ranks 0, 1, 2, ... of every compressed field in turn.
  auto by_rank = make_method<TtTable>("tt:cache=0.2", {s, Budget{3}, 1});
  const TtPlan& plan = by_rank->sizing();
  REQUIRE(plan.cached_rows > 10);
  const double limit = Budget{3}.bytes(s);
  CHECK(static_cast<double>(plan.bytes()) <= limit);
  // No room left for another cached row (the leftover of the rank's granularity is used).
  CHECK(static_cast<double>(plan.bytes() + TtPlan::cached_row_bytes(8)) > limit);
  std::vector<Index> expected;
  const auto offsets = s.field_offsets();
  for (Index rank = 0; expected.size() < static_cast<std::size_t>(plan.cached_rows); ++rank) {
    for (Index f = 0; f < 5; ++f) {
      const bool compressed = plan.tables[f].compressed;
      if (compressed && rank < s.cardinalities[f] && expected.size() < static_cast<std::size_t>(plan.cached_rows)) {
        expected.push_back(offsets[f] + rank);
      }
    }
  }
  std::sort(expected.begin(), expected.end());
  CHECK(by_rank->cached_keys() == expected);

  // With counts: the top ids by count over the compressed fields, whatever their rank.
  auto counts = std::make_shared<IdCounts>();
  for (Index f = 0; f < 5; ++f) counts->push_back(std::vector<std::uint64_t>(static_cast<std::size_t>(s.cardinalities[f]), 1));
  (*counts)[0][999] = 50, (*counts)[3][7] = 40, (*counts)[2][4] = 1000;  // field 2 stays full
  auto by_count = make_method<TtTable>("tt:cache=0.2", {s, Budget{3}, 1, counts});
  const auto& keys = by_count->cached_keys();
  CHECK(std::binary_search(keys.begin(), keys.end(), offsets[0] + 999));
  CHECK(std::binary_search(keys.begin(), keys.end(), offsets[3] + 7));
  CHECK_FALSE(by_count->sizing().tables[2].compressed);
  CHECK_FALSE(std::binary_search(keys.begin(), keys.end(), offsets[2] + 4));
  // A cached id reads its own row of "cache".
  std::vector<Index> ids = {999, 0, 0, 7, 0};
  const auto out = lookup(*by_count, ids);
  const Parameter* cache = param_named(*by_count, "cache");
  const auto row = std::lower_bound(keys.begin(), keys.end(), offsets[0] + 999) - keys.begin();
  CHECK(std::vector<float>(out.begin(), out.begin() + 8) == std::vector<float>(cache->row(row), cache->row(row) + 8));

  // Near tt's highest ratio rank 1 does not fit beside a large share: the cache shrinks instead.
  const Schema criteo = criteo_kaggle_schema();
  const Budget near_limit{criteo.full_bytes() / (naive_floats(criteo.cardinalities, 16, 1) * 4) * 0.99};
  const TtPlan without = TtTable::plan(criteo, near_limit, false, 0);
  const TtPlan with = TtTable::plan(criteo, near_limit, false, 0, 0.9);
  CHECK(without.rank == 1);
  CHECK(with.rank == 1);
  CHECK(with.cached_rows > 0);
  CHECK(static_cast<double>(with.bytes()) <= near_limit.bytes(criteo));

  CHECK_THROWS_AS(make_table("tt:cache=1", {s, Budget{3}, 1}), InvalidArgument);
  CHECK_THROWS_AS(make_table("tt:cache=-0.1", {s, Budget{3}, 1}), InvalidArgument);
}
