// 21: OptEmbed, rows pruned by learned thresholds and a width per field found by evolution
// (spec methods-intra.md §6), within the budget.
//
// Three stages:
//   supernet  one full table; a row is masked where its L1 norm is below its field's learned
//             threshold, and each training lookup keeps a random prefix of its entries (a random
//             width per position and step), so every width is trained at once.
//   search    no training steps: an evolutionary search over per-field widths. Each candidate
//             keeps the best-scoring rows (L1 norm minus threshold) that fit the budget at its
//             widths and is scored by validation AUC (StageContext::validate; the LinearProbe
//             scores its held-out set). The winner's rows, cut to their widths, are kept.
//   retrain   the kept rows train on (fresh optimizer state); every other id reads zeros.
// Served as "kept_rows": each field's kept rows and the set of their ids.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/optembed.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  for (double ratio : {2.0, 10.0, 100.0}) {
    for (const std::string options : {"", ":initial=random"}) {
      auto table = make_table("optembed" + options, {schema, Budget{ratio}, /*seed=*/1});
      const auto& optembed = dynamic_cast<const OptEmbedTable&>(*table);
      Adam adam(0.001f);
      LinearProbe probe(task, /*batch=*/512);
      const ProbeResult r = probe.train(*table, adam, /*steps=*/300);  // per stage
      const MemoryReport m = table->memory(&adam);
      std::printf("optembed%-16s at %5.1fx: widths", options.c_str(), ratio);
      for (Index f = 0; f < schema.num_fields(); ++f) {
        std::printf(" %2lld", static_cast<long long>(optembed.kept().field(f).width));
      }
      std::printf(", rows kept");
      for (Index f = 0; f < schema.num_fields(); ++f) {
        std::printf(" %5lld", static_cast<long long>(optembed.kept().field(f).kept));
      }
      std::printf("; %lld candidates scored; serving %7zu B (%6.2fx); held-out AUC %.4f\n",
                  static_cast<long long>(optembed.search_result().evaluations), m.serving_bytes,
                  m.ratio(), r.auc);
    }
  }
  return 0;
}
