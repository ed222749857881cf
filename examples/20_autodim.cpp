// 20: AutoDim, a searched width per field (spec methods-intra.md §5), within the budget.
//
// Two stages:
//   search   every candidate width (1, 2, 4, ..., d) has its own table, per-field linear layer
//            and BatchNorm; a field's embedding mixes the candidates by a softmax over its
//            architecture logits alpha (with Gumbel noise in training). The training step trains
//            the tables and layers; after it, one validation batch's dE steps alpha (the
//            Trainer and the LinearProbe feed those batches to stages with uses_validation).
//   retrain  each field keeps one width: the one alpha prefers, unless the budget says
//            otherwise (argmax alpha - lambda x bytes, at the smallest lambda that fits); it
//            starts from that candidate's rows and layer (warm_start=folded also carries its
//            BatchNorm's running statistics into the layer; fresh re-initialises).
// The search holds every candidate (31/16 of a full table for d = 16); the retrained table
// holds the chosen widths only, within the budget (at most about d / 1 = 16x).
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/autodim.hpp>
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
    for (const std::string options : {"", ":warm_start=folded", ":warm_start=fresh"}) {
      auto table = make_table("autodim" + options, {schema, Budget{ratio}, /*seed=*/1});
      const auto& autodim = dynamic_cast<const AutoDimTable&>(*table);
      Adam adam(0.001f);
      LinearProbe probe(task, /*batch=*/512);
      const MemoryReport search = table->memory(&adam);
      const ProbeResult r = probe.train(*table, adam, /*steps=*/300);  // per stage
      const MemoryReport m = table->memory(&adam);
      std::printf("autodim%-18s at %4.1fx: widths", options.c_str(), ratio);
      for (Index w : autodim.chosen_widths()) std::printf(" %2lld", static_cast<long long>(w));
      std::printf("; search holds %8zu B, serving %7zu B (%5.2fx); held-out AUC %.4f\n",
                  search.training_bytes(), m.serving_bytes, m.ratio(), r.auc);
    }
  }
  return 0;
}
