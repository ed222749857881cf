// 04: mixed-dimension embeddings (spec methods-inter.md §8).
//
// A large field spreads its training signal over many ids, so each of its rows can be narrower.
// MDE gives field f a width d_f that falls as a power law in its cardinality n_f,
//   d_f = round(D * (n_min / n_f)^alpha), rounded to a power of two and capped at D,
// and learns a projection P_f [d_f x D] that lifts the narrow rows to the model's width D:
// out = E_f[x] P_f. alpha = 0 keeps every field at D; larger alpha shrinks the large fields.
// alpha=auto (default) takes the smallest alpha whose tables and projections fit the budget.
// The smallest field always keeps D, and no field goes below 1, so MDE cannot compress much
// beyond D times. Options:
//   alpha=auto | <number in [0, 1]>   the exponent, solved from the budget or given
//   round_dim=true | false            round widths to powers of two
#include <embcomp/methods/mde.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

namespace {

// Builds `spec`, prints alpha and the per-field widths, trains it and prints the held-out AUC.
void run(const std::string& spec, const Schema& schema, double ratio) {
  try {
    auto table = make_table(spec, {schema, Budget{ratio}, /*seed=*/1});
    const MdePlan& plan = dynamic_cast<const MdeTable&>(*table).sizing();
    std::string dims;
    for (Index d : plan.dims) dims += std::to_string(d) + " ";
    Adam adam(0.01f);
    const ProbeResult r =
        train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/400, /*batch=*/256);
    std::printf("%-32s alpha %.4f  d_f = %s AUC %.4f\n    %s\n", table->spec().c_str(),
                plan.alpha, dims.c_str(), r.auc, table->memory(&adam).to_string().c_str());
  } catch (const InfeasibleBudget& e) {
    // The error names the highest ratio reachable: alpha = 1, the narrowest widths.
    std::printf("%-32s infeasible at %gx: highest ratio %.1fx\n", spec.c_str(), ratio,
                e.limit_ratio());
  }
}

}  // namespace

int main() {
  // Four fields with 20000, 2000, 200 and 20 ids (22,220 rows), d = 16.
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  std::printf("alpha solved from the budget: widths shrink, the largest field first:\n");
  for (double ratio : {1.0, 2.0, 4.0, 8.0}) run("mde", schema, ratio);

  // Without rounding to powers of two the widths can follow the budget more closely.
  std::printf("\nwidths not rounded to powers of two:\n");
  run("mde:round_dim=false", schema, 4.0);

  std::printf("\na given alpha (the budget must still hold it):\n");
  run("mde:alpha=0.3", schema, 2.0);

  // Every large field at width 1 still costs n_f floats each: about D times smaller at best.
  std::printf("\nbeyond ~D times there is nothing left to shrink:\n");
  run("mde", schema, 20.0);
  return 0;
}
