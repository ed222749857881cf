// 16: frequency-adaptive hot/cold embedding, adaembed (spec methods-inter.md §7).
//
// Frequent ("hot") ids get a row of their own; every other id shares a hashed "cold" row. The
// hot ids are the top ids of each field by training-split count (TableArgs::counts); without
// counts the ids are taken as frequency ranks (id 0 the most frequent), as the vocabulary and
// the synthetic generator number them. The options:
//   hot_share=S (0.5)          the share of the spare budget spent on hot rows; the cold rows
//                              take the rest. top_percent=t instead fixes the hot share of ids.
//   cold_tables=per_field | shared   a cold table per field (the reference) or one for all
//   hash=modulo | xxhash       cold row = cold ordinal mod C (the reference) or XXH64
//   threshold=T                fields with n_f <= T keep a full table
// Which ids are hot is index state, counted in the serving bytes: nothing when the hot set is
// a rank prefix, else per field a sorted id list (4 B per hot id) or a bitset with a rank per
// 64 ids (12 B per 64 ids), whichever is smaller.
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <memory>
#include <random>
#include <string>

using namespace embcomp;

namespace {

// Counts of 1,000,000 training rows (every field sums to them, as real counts do) that make
// each field's last ids the most frequent, so the hot set is not a rank prefix and is stored.
// (The planted task draws ids uniformly: which ids are hot matters little to its AUC; what
// changes is the index bytes.)
std::shared_ptr<const IdCounts> reversed_counts(const Schema& schema) {
  auto counts = std::make_shared<IdCounts>();
  for (Index n : schema.cardinalities) {
    std::vector<std::uint64_t> c(static_cast<std::size_t>(n));
    const double pairs = static_cast<double>(n) * static_cast<double>(n + 1) / 2;
    for (std::size_t i = 0; i < c.size(); ++i) {
      c[i] = static_cast<std::uint64_t>(1e6 * static_cast<double>(i + 1) / pairs);
    }
    counts->push_back(std::move(c));
  }
  return counts;
}

// Trains `spec` on the planted task and prints its memory report and AUC.
void run(const std::string& spec, const Schema& schema, double ratio,
         std::shared_ptr<const IdCounts> counts = {}) {
  try {
    auto table = make_table(spec, {schema, Budget{ratio}, /*seed=*/1, counts});
    Adam adam(0.001f);
    const ProbeResult r =
        train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/1000, /*batch=*/512);
    // serving = rows x d x 4 B + the routes (64 B per field) + the hot sets.
    const MemoryReport m = table->memory(&adam);
    std::printf("%-30s %s ratio %6.1fx  serving %8zu B (index %5zu B)  AUC %.4f\n",
                spec.c_str(), counts ? "counts" : "ranks ", m.ratio(), m.serving_bytes,
                m.index_bytes, r.auc);
  } catch (const InfeasibleBudget& e) {
    std::printf("%-30s infeasible at %gx: highest ratio %.1fx\n", spec.c_str(), ratio,
                e.limit_ratio());
  }
}

}  // namespace

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  std::printf("at 10x, hot set from ranks (stored as nothing) and from counts (stored):\n");
  run("adaembed", schema, 10.0);
  run("adaembed", schema, 10.0, reversed_counts(schema));

  std::printf("\nthe hot share of the budget, and the layout of the cold rows:\n");
  for (const char* spec : {"adaembed:hot_share=0.2", "adaembed:hot_share=0.8",
                           "adaembed:cold_tables=shared", "adaembed:hash=xxhash"}) {
    run(spec, schema, 10.0);
  }

  std::printf("\nthe reference's fixed top_percent must fit the budget:\n");
  run("adaembed:top_percent=0.05", schema, 10.0);
  run("adaembed:top_percent=0.05", schema, 100.0);

  std::printf("\nmore compression, and the limit (routes + one cold row per field):\n");
  for (double ratio : {100.0, 1000.0, 10000.0}) run("adaembed", schema, ratio);
  run("hash", schema, 1000.0);
  return 0;
}
