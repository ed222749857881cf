// 11: TT-Rec tensor-train embeddings (spec methods-inter.md §3).
//
// A table of n rows x d columns becomes three small "cores": id x is written in mixed radix as
// (i0, i1, i2) with n0 n1 n2 >= n, each digit picks a row of one core, and the embedding is the
// contraction of the three rows through two inner dimensions of size R (the TT rank):
//   e[(a d1 + b) d2 + c] = sum_{r1, r2} G0[i0][a, r1] G1[i1][r1, b, r2] G2[i2][r2, c]
// with d = d0 d1 d2. Memory is about n^(1/3) d R^2 instead of n d, so very large fields shrink
// enormously; the budget buys one rank R, the largest that fits. Options:
//   tables=per_field (default) | shared   one TT per field, or one over every field's ids
//   threshold=T                           per_field: fields with n_f <= T keep a full table
//   init=matched (default) | reference    the reference's tail-only normal is O(1) per entry
//   cache=0.3 (default) | s               TT-Rec's cache: a share of the budget holds
//                                         uncompressed rows of the hottest ids (0: none)
#include <embcomp/methods/tt.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

namespace {

void run(const std::string& spec, const Schema& schema, double ratio) {
  try {
    auto table = make_table(spec, {schema, Budget{ratio}, /*seed=*/1});
    const TtPlan& plan = dynamic_cast<const TtTable&>(*table).sizing();
    std::string tables;
    for (const auto& t : plan.tables) tables += t.compressed ? 'T' : 'F';  // TT cores or full
    Adam adam(0.01f);
    const ProbeResult r =
        train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/400, /*batch=*/256);
    std::printf("%-28s %4.0fx  rank %3lld  tables %-4s cached rows %4lld  AUC %.4f\n    %s\n",
                table->spec().c_str(), ratio, static_cast<long long>(plan.rank), tables.c_str(),
                static_cast<long long>(plan.cached_rows), r.auc, table->memory(&adam).to_string().c_str());
  } catch (const InfeasibleBudget& e) {
    std::printf("%-28s infeasible at %gx: highest ratio %.1fx\n", spec.c_str(), ratio, e.limit_ratio());
  }
}

}  // namespace

int main() {
  // Four fields with 20000, 2000, 200 and 20 ids, d = 16 (dim factors 2 x 2 x 4).
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  std::printf("one TT per field; the smallest fields would not shrink and stay full (F):\n");
  for (double ratio : {4.0, 20.0, 100.0}) run("tt", schema, ratio);

  std::printf("\none TT over all 22,220 ids:\n");
  run("tt:tables=shared", schema, 20.0);

  // The planted task draws ids uniformly: there are no hot ids, so here the cache only takes
  // rank away from the cores and cache=0 does better. On skewed ids (the sweep's Zipf data,
  // real click logs) the cache wins at every ratio (README, methods table).
  std::printf("\nthe reference: no cache, and its init (entries of order one):\n");
  run("tt:cache=0", schema, 20.0);
  run("tt:cache=0,init=reference", schema, 20.0);

  std::printf("\nbeyond rank 1 nothing fits; the error names the highest ratio:\n");
  run("tt", schema, 2000.0);
  return 0;
}
