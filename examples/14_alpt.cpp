// 14: a quantized table that learns its own scales: alpt, adaptive low-precision training
// (spec methods-intra.md §2).
//
// As int8 (example 05), the table is only integer codes trained with stochastic rounding, but
// each row has its own step size (value = code * step_r), and the optimizer learns it: after
// updating a row in fp32, it takes LSQ's gradient of the row's rounded values with respect to
// the step (round(v) - v for each element inside the code range, the range's end for an
// element outside it) and steps the step size at its own learning rate (`step_lr`, relative to
// the table's), before writing the row on the new step. A row whose values outgrow the range
// widens its step; a row of small values can narrow it. Serving: codes + one fp32 step per row,
// 3.2x at d = 16 for int8.
#include <embcomp/data/planted.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

using namespace embcomp;

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  // The same init step (1e-4 spans only +-0.0127 in int8) with a fixed step (int8's global
  // scale) and with alpt's learned one.
  for (const std::string spec : {"int8:scale=0.0001", "alpt:init_scale=0.0001", "alpt"}) {
    auto table = make_table(spec, {schema, Budget{1.0}, /*seed=*/1});
    Adam adam(0.001f);
    const ProbeResult r = train_linear_probe(*table, adam, task, /*steps=*/1000, /*batch=*/512);
    const MemoryReport m = table->memory(&adam);
    const Parameter& rows = *table->parameters().front();
    float smallest = rows.quantum(0), largest = rows.quantum(0);
    for (Index row = 0; row < rows.rows(); ++row) {
      smallest = std::min(smallest, rows.quantum(row));
      largest = std::max(largest, rows.quantum(row));
    }
    std::printf("%-24s ratio %.2fx, serving %8zu B; steps in [%.2e, %.2e]; held-out AUC %.4f\n",
                spec.c_str(), m.ratio(), m.serving_bytes, static_cast<double>(smallest),
                static_cast<double>(largest), r.auc);
  }
  return 0;
}
