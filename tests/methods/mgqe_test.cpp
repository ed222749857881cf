// mgqe: sizing from the budget (packed codes of two widths, centroids and the split counted),
// the partial nearest-centroid assignment and the surrogate backward against naive twins, the
// frequency split with and without counts against a brute-force top share, and the serving
// form (codes + centroids + split).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include "embcomp/methods/mgqe.hpp"
#include "pq_reference.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<MgqeTable> make_mgqe(const std::string& options, double ratio,
                                     std::shared_ptr<const IdCounts> counts = {}) {
  return make_method<MgqeTable>("mgqe" + options, {small_schema(), Budget{ratio}, 3, std::move(counts)});
}

/// The budgeted bytes of small_schema (1293 rows, d = 8) at D parts, K_high / K_low and
/// top_percent 0.1 (131 high rows: ceil(0.1 n_f) of 1000, 37, 5, 250, 1 is 100 + 4 + 1 + 25 + 1),
/// with `split_bytes` for the split: whole 64-bit words of each group's codes and fp32 centroids.
double naive_bytes(Index parts, Index high_k, Index low_k, double split_bytes) {
  const auto words = [](double bits) { return std::ceil(bits / 64.0); };
  const double high_bits = std::ceil(std::log2(static_cast<double>(high_k)));
  const double low_bits = std::ceil(std::log2(static_cast<double>(low_k)));
  return 8.0 * (words(131.0 * static_cast<double>(parts) * high_bits) +
                words(1162.0 * static_cast<double>(parts) * low_bits)) +
         static_cast<double>(high_k * 8 * 4) + split_bytes;
}

constexpr double kBitsetBytes = 21 * 12;  // ceil(1293 / 64) words of 8 B + a 4 B rank each
constexpr double kPrefixBytes = 6 * 8;    // F + 1 = 6 high-row prefix sums of 8 B

/// Whether id is among field f's ceil(share n_f) ids of the largest count (ties to the smaller
/// id), by sorting the whole field.
bool naive_high(const Schema& s, const IdCounts* counts, Index f, Index id, double share = 0.1) {
  const Index n = s.cardinalities[static_cast<std::size_t>(f)];
  std::vector<Index> ids(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) ids[static_cast<std::size_t>(i)] = i;
  const auto count = [&](Index i) {
    return counts ? (*counts)[static_cast<std::size_t>(f)][static_cast<std::size_t>(i)] : static_cast<std::uint64_t>(n - i);
  };
  std::stable_sort(ids.begin(), ids.end(), [&](Index a, Index b) { return count(a) > count(b); });
  const auto high = static_cast<std::ptrdiff_t>(std::ceil(share * static_cast<double>(n) - 1e-9));
  return std::find(ids.begin(), ids.begin() + high, id) != ids.begin() + high;
}

/// counts[f][id] = (37 id + 11) mod n_f: a permutation where n_f is prime to 37 (1000, 5,
/// 250), all ties for n_f = 37 and 1 (the smallest ids win).
std::shared_ptr<const IdCounts> scrambled_counts(const Schema& s) {
  auto counts = std::make_shared<IdCounts>();
  for (Index n : s.cardinalities) {
    auto& c = counts->emplace_back(static_cast<std::size_t>(n));
    for (Index id = 0; id < n; ++id) c[static_cast<std::size_t>(id)] = static_cast<std::uint64_t>((37 * id + 11) % n);
  }
  return counts;
}

/// The row of part j's centroid k in mgqe's centroids.
auto centroid_row_of(const GroupedPqLayout& l) {
  return [&l](Index j, Index k) { return j * l.high_centroids + k; };
}

}  // namespace

TEST_CASE("mgqe: parts=auto takes the most parts that fit, then halves the centroid counts",
          "[methods][mgqe]") {
  const Schema schema = small_schema();  // full: 1293 x 8 x 4 = 41376 B
  // D = 8: 131 x 64 bits = 131 words, 1162 x 48 bits = 872 words, 256 x 8 x 4 B of centroids:
  // 8 (131 + 872) + 8192 = 16216 B, + the bitset the budget counts without counts too.
  CHECK(naive_bytes(8, 256, 64, kBitsetBytes) == 16216 + 252);
  CHECK(make_mgqe("", 1.0)->layout().parts == 8);
  CHECK(make_mgqe("", 3.0)->layout().parts == 4);  // 13792 B: D = 4 needs 12460
  // 10344 B: D = 2 needs 10200 + 252, so D = 1; groups=ranks budgets the 48 B prefix, so D = 2.
  CHECK(naive_bytes(2, 256, 64, kBitsetBytes) > Budget{4.0}.bytes(schema));
  CHECK(make_mgqe("", 4.0)->layout().parts == 1);
  CHECK(make_mgqe(":groups=ranks", 4.0)->layout().parts == 2);
  // 8275 B: D = 1 at 256 / 64 needs 9452, at 128 / 32 4096 + 8 (15 + 91) + 252 = 5196.
  const auto halved = make_mgqe("", 5.0);
  CHECK(halved->layout().parts == 1);
  CHECK(halved->layout().high_centroids == 128);
  CHECK(halved->layout().low_centroids == 32);
  for (double ratio : {1.0, 3.0, 4.0, 5.0, 20.0}) {
    for (const std::string options : {"", ":groups=ranks", ":parts=1,high_centroids=16,low_centroids=4"}) {
      INFO("ratio " << ratio << " options " << options);
      const auto t = make_mgqe(options, ratio);
      const GroupedPqLayout& l = t->layout();
      const double split = options == ":groups=ranks" ? kPrefixBytes : kBitsetBytes;
      CHECK(naive_bytes(l.parts, l.high_centroids, l.low_centroids, split) <= Budget{ratio}.bytes(schema));
      // Served: the prefix split (no counts), 48 B, whatever the budget counted.
      CHECK(static_cast<double>(t->memory().serving_bytes) ==
            naive_bytes(l.parts, l.high_centroids, l.low_centroids, kPrefixBytes));
    }
  }
  // The smallest form: D = 1, 8 / 2 centroids (3- and 1-bit codes): 8 (7 + 19) + 256 + 252 B.
  const double smallest = naive_bytes(1, 8, 2, kBitsetBytes);
  CHECK(smallest == 716);
  CHECK(make_mgqe("", 0.999 * 41376.0 / smallest)->layout().high_centroids == 8);
  try {
    make_mgqe("", 60.0);
    FAIL("60x should not fit");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == Approx(41376.0 / smallest));
    CHECK_THAT(e.what(), Catch::Contains("highest ratio"));
  }
  CHECK_THROWS_AS(make_mgqe(":parts=2", 20.0), InfeasibleBudget);  // explicit parts never halve K
  CHECK_THROWS_AS(make_mgqe(":parts=3", 1.0), InvalidArgument);
  CHECK_THROWS_AS(make_mgqe(":low_centroids=512", 1.0), InvalidArgument);
  CHECK_THROWS_AS(make_mgqe(":low_centroids=1", 1.0), InvalidArgument);
  CHECK_THROWS_AS(make_mgqe(":top_percent=0", 1.0), InvalidArgument);
  // Options without effect are refused: one group makes the split moot.
  CHECK_THROWS_AS(make_mgqe(":top_percent=1,low_centroids=32", 1.0), InvalidArgument);
  CHECK_THROWS_AS(make_mgqe(":top_percent=1,groups=ranks", 1.0), InvalidArgument);
  CHECK_THROWS_AS(make_mgqe(":low_centroids=256,top_percent=0.2", 1.0), InvalidArgument);
  CHECK(make_mgqe(":low_centroids=256", 1.0)->split().high_rows() == 1293);
}

TEST_CASE("mgqe: forward searches all K_high centroids for frequent rows and the first K_low for "
          "the rest, backward is the straight-through surrogate",
          "[methods][mgqe]") {
  for (const std::string options : {"", ":parts=2,high_centroids=16,low_centroids=4"}) {
    INFO("options " << options);
    auto t = make_mgqe(options, 1.0);
    const GroupedPqLayout& l = t->layout();
    const Schema& s = t->schema();
    const PqForwardRun run = run_forward(*t, 64);
    std::vector<bool> high(run.ids.size());
    for (std::size_t p = 0; p < run.ids.size(); ++p) {
      const auto f = static_cast<Index>(p % static_cast<std::size_t>(s.num_fields()));
      high[p] = naive_high(s, nullptr, f, run.ids[p]);
      REQUIRE(t->split().high(f, run.rows[p]) == high[p]);
    }
    const Parameter& query = *param_named(*t, "query");
    const Parameter& centroids = *param_named(*t, "centroids");
    const auto expected = naive_pq_forward(query, centroids, run.rows, l.parts, centroid_row_of(l),
                                           [&](std::size_t p) { return high[p] ? l.high_centroids : l.low_centroids; });
    const auto unrestricted = naive_pq_forward(query, centroids, run.rows, l.parts, centroid_row_of(l),
                                               [&](std::size_t) { return l.high_centroids; });
    // The limit to K_low is exercised: some low position's nearest of all K_high is beyond it.
    int beyond = 0;
    for (std::size_t e = 0; e < unrestricted.assigned.size(); ++e) {
      beyond += !high[e / static_cast<std::size_t>(l.parts)] && unrestricted.assigned[e] >= l.low_centroids;
    }
    CHECK(beyond > 0);
    CHECK(run.out == expected.out);
    CHECK(t->auxiliary_loss() == Approx(expected.regulariser));
    CHECK(lookup(*t, run.ids) == run.out);  // the codes were written
    check_surrogate_backward(*t, run, expected, l.parts, centroid_row_of(l));
  }
}

TEST_CASE("mgqe: the split is each field's top share by count, a ranked bitset where counts "
          "disagree with the ids' order",
          "[methods][mgqe]") {
  const Schema s = small_schema();
  const auto counts = scrambled_counts(s);
  const auto with_counts = make_mgqe("", 3.0, counts);
  const auto without = make_mgqe("", 3.0);
  const FrequencySplit& split = with_counts->split();
  CHECK(split.bitset());
  CHECK(static_cast<double>(split.bytes()) == kBitsetBytes);
  CHECK_FALSE(without->split().bitset());
  CHECK(static_cast<double>(without->split().bytes()) == kPrefixBytes);
  // Both budget the bitset, so they have the same layout (a checkpoint rebuilds it without
  // counts); the split takes 131 rows either way.
  CHECK(with_counts->layout().parts == without->layout().parts);
  CHECK(split.high_rows() == 131);
  Index high_seen = 0, low_seen = 0;
  for (Index f = 0; f < s.num_fields(); ++f) {
    for (Index id = 0; id < s.cardinalities[static_cast<std::size_t>(f)]; ++id) {
      const Index x = s.field_offset(f) + id;
      const FrequencySplit::Slot at = split.slot(f, x);
      REQUIRE(at.high == naive_high(s, counts.get(), f, id));
      REQUIRE(at.rank == (at.high ? high_seen++ : low_seen++));  // ranks in row order
      REQUIRE(without->split().high(f, x) == naive_high(s, nullptr, f, id));
    }
  }
  CHECK(naive_high(s, counts.get(), 1, 3));      // n = 37: all ties, the smallest ids win
  CHECK(naive_high(s, counts.get(), 2, 4));      // n = 5: id 4 has the largest count, 4
  CHECK_FALSE(naive_high(s, counts.get(), 2, 0));
  CHECK(static_cast<double>(with_counts->memory().serving_bytes) ==
        with_counts->layout().code_bytes(split) + kBitsetBytes);
  CHECK(static_cast<double>(with_counts->memory().serving_bytes) <= Budget{3.0}.bytes(s));

  // Counts in the ids' order give the free prefix encoding; groups=ranks ignores the counts.
  auto ordered = std::make_shared<IdCounts>();
  for (Index n : s.cardinalities) {
    auto& c = ordered->emplace_back();
    for (Index id = 0; id < n; ++id) c.push_back(static_cast<std::uint64_t>(2 * (n - id)));
  }
  CHECK_FALSE(make_mgqe("", 3.0, ordered)->split().bitset());
  CHECK_FALSE(make_mgqe(":groups=ranks", 3.0, counts)->split().bitset());

  // Trained with counts: the frozen form and a checkpoint rebuilt without them look up alike.
  auto t = make_mgqe("", 3.0, counts);
  Adam adam(0.01f);
  const PlantedTask task(s, 7);
  LinearProbe probe(task, 128);
  probe.train(*t, adam, 20);
  t->finalize();
  const auto ids = random_ids(s, 64, 2);
  CHECK(lookup(*t->freeze(), ids) == lookup(*t, ids));
  std::stringstream file;
  t->save(file);
  const auto loaded = load_table(file);
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
}

TEST_CASE("mgqe: the serving form is the codes of two widths, the centroids and the split, and "
          "loads as itself",
          "[methods][mgqe]") {
  for (const bool counted : {false, true}) {
    INFO("counts " << counted);
    auto t = make_mgqe("", 3.0, counted ? scrambled_counts(small_schema()) : nullptr);
    const Schema& s = t->schema();
    const GroupedPqLayout& l = t->layout();
    Adam adam(0.01f);
    const PlantedTask task(s, 7);
    LinearProbe probe(task, 128);
    probe.train(*t, adam, 30);
    t->finalize();
    // finalize reassigned every row's codes from the final queries and centroids.
    std::vector<Index> every;
    for (Index id = 0; id < s.cardinalities[0]; ++id) every.insert(every.end(), {id, id % 37, id % 5, id % 250, 0});
    const auto all = lookup(*t, every);
    const std::vector<Index> rows = stacked_rows(s, every);
    const auto candidates = [&](std::size_t p) {
      return t->split().high(static_cast<Index>(p % 5), rows[p]) ? l.high_centroids : l.low_centroids;
    };
    CHECK(all == naive_pq_forward(*param_named(*t, "query"), *param_named(*t, "centroids"), rows, l.parts,
                                  centroid_row_of(l), candidates).out);
    auto frozen = t->freeze();
    CHECK(frozen->spec() == "gpq:of=mgqe,parts=" + std::to_string(l.parts) + ",high_centroids=256,low_centroids=64");
    CHECK(lookup(*frozen, every) == all);
    CHECK(frozen->memory().serving_bytes == t->memory().serving_bytes);
    CHECK(static_cast<double>(frozen->memory().serving_bytes) == l.bytes(t->split()));
    CHECK(static_cast<double>(frozen->memory().serving_bytes) <= Budget{3.0}.bytes(s));
    CHECK(t->memory().parameter_bytes > t->memory().serving_bytes);  // the query is training-only
    std::stringstream file;
    frozen->save(file);
    auto loaded = load_table(file);
    CHECK(dynamic_cast<GroupedPqServingTable*>(loaded.get()) != nullptr);
    CHECK(lookup(*loaded, every) == all);
    Gradients grads;
    CHECK_THROWS(loaded->backward(batch_of(every, s), {all.data(), static_cast<Index>(every.size()), s.dim}, grads));
  }
}
