// 09: a method that changes its table between stages: dedup (spec methods-inter.md §6) trains a
// full table, then merges near-duplicate blocks of rows and fine-tunes the smaller table
// through a block remap.
//
// At the start of its second stage the table is cut into blocks of r consecutive rows; L2 LSH
// proposes pairs of blocks, and a block whose entries are within fp of an earlier block's in
// at least 70% of coordinates reads that block from then on. The table is reshaped to the kept
// blocks (the optimizer forgets the old storage's state) and the remap [blocks] is index state
// the base saves and counts. Whether a trained table has enough near-duplicate blocks for the
// budget is only known then: when it has too few, the stage throws InfeasibleBudget naming the
// ratio the blocks it found reach, which this example then trains at.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/dedup.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>

using namespace embcomp;

int main() {
  // Mostly rare ids: a block of rows that training barely touched stays within fp of its
  // initial values, U(+-1/sqrt(max n_f)) = U(+-0.0022), and so of every other such block.
  const Schema schema{{200000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  for (double ratio : {2.0, 8.0, 30.0}) {
    double budget = ratio;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto table = make_table("dedup", {schema, Budget{budget}, /*seed=*/1});
      const auto& dedup = dynamic_cast<const DedupTable&>(*table);
      Adam adam(0.001f);
      try {
        const ProbeResult r = train_linear_probe(*table, adam, task, /*steps=*/400, /*batch=*/256);
        const MemoryReport m = table->memory();
        std::printf("dedup at %5.1fx: %lld blocks, %lld merged; serving %8zu B, ratio %6.2fx; "
                    "held-out AUC %.4f\n",
                    budget, static_cast<long long>(dedup.blocks()),
                    static_cast<long long>(dedup.duplicates_wanted()), m.serving_bytes, m.ratio(),
                    r.auc);
        std::printf("  serving form: %s\n", table->freeze()->spec().c_str());
        break;
      } catch (const InfeasibleBudget& e) {
        std::printf("dedup at %5.1fx: %s\n", budget, e.what());
        budget = e.limit_ratio() * (1 - 1e-9);
        if (budget < 1.0) break;
      }
    }
  }
  return 0;
}
