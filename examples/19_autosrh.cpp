// 19: AutoSrh, frequency-group soft pruning (spec methods-intra.md §9), served as sparse rows.
//
// Ids are grouped by training-split frequency (here by rank: id 0 is the most frequent); each
// group learns a weight per dimension, alpha in [0, 1]. Three stages:
//   warmup   plain training;
//   search   the dense model is frozen; after each training step, one validation batch's dE
//            moves alpha (normalised per group, an L1 push towards 0, clipped to [0, 1]). The
//            Trainer and the LinearProbe feed those batches to stages with uses_validation.
//   retrain  order=prune_first (the paper's): alpha is folded into the table, the largest
//            entries the budget buys are kept, and the table retrains under that mask;
//            order=reference: retrain with alpha fixed, then prune once at finalize.
// finalize() serves the kept entries as sparse rows within the budget.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/autosrh.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  for (double ratio : {2.0, 10.0}) {
    for (const std::string options : {"", ":order=reference", ":groups=2"}) {
      auto table = make_table("autosrh" + options, {schema, Budget{ratio}, /*seed=*/1});
      const auto& srh = dynamic_cast<const AutoSrhTable&>(*table);
      Adam adam(0.001f);
      LinearProbe probe(task, /*batch=*/512);
      const ProbeResult r = probe.train(*table, adam, /*steps=*/400);  // per stage
      // The learned weights: the mean alpha of the rarest and of the most frequent group.
      const Parameter& alpha = srh.alpha();
      auto mean_of = [&](Index g) {
        double sum = 0.0;
        for (Index c = 0; c < alpha.width(); ++c) sum += alpha.row(g)[c];
        return sum / static_cast<double>(alpha.width());
      };
      const MemoryReport m = table->memory(&adam);
      std::printf("autosrh%-18s at %4.1fx: alpha mean rarest group %.3f, most frequent %.3f; "
                  "serving %7zu B (%5.2fx); held-out AUC %.4f\n",
                  options.c_str(), ratio, mean_of(0), mean_of(alpha.rows() - 1), m.serving_bytes,
                  m.ratio(), r.auc);
    }
  }
  return 0;
}
