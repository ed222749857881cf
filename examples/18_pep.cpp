// 18: PEP, pruning by learned thresholds (spec methods-intra.md §8), then a lottery-ticket
// retrain under the mask the thresholds found; served as sparse rows.
//
// Two stages (include/embcomp/table.hpp's stage model), driven here by the LinearProbe as the
// Trainer drives them:
//   prune    e = sign(v) max(|v| - sigmoid(s), 0) with a learned logit s per entry
//            (threshold=feature_dimension; feature, dimension and global share one per row,
//            per column, or one for the table). The stage ends once the fraction of zeros
//            reaches the target sparsity P the budget sets, or at its length.
//   retrain  the mask keeps the largest |e| the budget buys and the table trains on under it
//            (rewind=original restarts from its initial values, the lottery ticket).
// finalize() serves v * mask as sparse rows (CSR, or COO when smaller), within the budget.
// This example compares the sharing of the thresholds at a few ratios, and shows the
// reference's init (threshold_init=-150), whose thresholds never move: the mask is then a
// plain magnitude cut of the table.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/pep.hpp>
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
    for (const std::string options : {"", ":threshold=feature", ":threshold=global",
                                      ":threshold_init=-150"}) {
      auto table = make_table("pep" + options, {schema, Budget{ratio}, /*seed=*/1});
      const auto& pep = dynamic_cast<const PepTable&>(*table);
      Adam adam(0.001f);
      // Two stages of 600 steps each (the prune stage may end earlier), then finalize().
      LinearProbe probe(task, /*batch=*/512);
      const ProbeResult r = probe.train(*table, adam, /*steps=*/600);
      const MemoryReport m = table->memory(&adam);
      std::printf("pep%-22s at %4.1fx: target sparsity %.4f, thresholds reached %.4f; mask keeps "
                  "%7lld; serving %7zu B (%5.2fx); held-out AUC %.4f\n",
                  options.c_str(), ratio, pep.target_sparsity(), pep.sparsity(),
                  static_cast<long long>(pep.mask_nonzeros()), m.serving_bytes, m.ratio(), r.auc);
    }
  }
  return 0;
}
