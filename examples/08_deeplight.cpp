// 08: a multi-stage method with its own serving form: DeepLight's gradual magnitude pruning
// (spec methods-intra.md §7), served as sparse rows. This example runs it with the reference's
// dense warm-up (warmup=0.5 of an epoch here); the default prunes from the first step.
//
// The stage model (include/embcomp/table.hpp): a method declares its stages, and whoever
// drives training (the Trainer, or this loop) begins each one, runs its steps with after_step,
// and finalizes the table before test. deeplight declares two:
//   warmup  plain training of the full fp32 table;
//   prune   after every 10th step the smallest magnitudes are zeroed, a growing fraction
//           rho(t) = P (1 - dev^(t / 0.8 T)) of the table, so the target rate P (what the
//           budget buys as sparse rows) is reached at 80% of the stage. Zeroed entries may
//           regrow; a state counts as a best one only once rho is within dev of P.
// finalize() prunes to exactly the budget and builds the sparse rows (CSR, or COO when fewer
// nonzeros than rows fit); freeze() returns that form alone, and a frozen checkpoint loads as it.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/deeplight.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <sstream>

using namespace embcomp;

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  for (double ratio : {2.0, 10.0, 50.0}) {
    auto table = make_table("deeplight:warmup=0.5", {schema, Budget{ratio}, /*seed=*/1});
    const auto& pruned = dynamic_cast<const DeepLightTable&>(*table);
    Adam adam(0.001f);
    // The probe runs every stage (1000 steps each here, warm-up 500), then finalize().
    LinearProbe probe(task, /*batch=*/512);
    const ProbeResult r = probe.train(*table, adam, /*steps=*/1000);
    const MemoryReport m = table->memory(&adam);
    std::printf("deeplight at %5.1fx: target prune rate %.4f (%lld nonzeros), reached %.4f; "
                "serving %7zu B, ratio %6.2fx; held-out AUC %.4f\n",
                ratio, pruned.target_rate(), static_cast<long long>(pruned.target_nonzeros()),
                pruned.prune_rate(), m.serving_bytes, m.ratio(), r.auc);

    // The serving form: only the sparse rows, the same lookups; it round-trips as itself.
    auto serving = table->freeze();
    std::stringstream file;
    serving->save(file);
    auto loaded = load_table(file);
    std::printf("  serving form '%s': %zu B, loads as '%s', AUC %.4f\n", serving->spec().c_str(),
                serving->memory().serving_bytes, loaded->spec().c_str(),
                probe.evaluate(*loaded).auc);
  }
  return 0;
}
