// 05: low-precision training with int8 / int16 codes (spec methods-intra.md §1).
//
// The table is stored only as b-bit integer codes, value = code * scale + middle; there is no
// fp32 master copy. A lookup decodes rows; the optimizer decodes a row, updates it in fp32 and
// writes it back with *stochastic rounding*: x/scale is rounded up with probability equal to its
// fractional part, so E[decoded] = x and updates smaller than one step of the scale still add up
// on average (rounding to nearest would drop them every time).
//
// Options: scale_mode=global (one fixed scale, default 0.01, and middle 0; values outside
// +-127 * scale saturate for int8) or scale_mode=per_row (a symmetric scale per row, refitted to
// the row's largest magnitude on every write, 4 more bytes per row). The ratio comes from the
// bits alone: about 4x for int8, 2x for int16.
#include <embcomp/data/planted.hpp>
#include <embcomp/kernels/quantize.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>
#include <string>

using namespace embcomp;

int main() {
  // Stochastic rounding in one line: 0.0037 at scale 0.01 is 0.37 of a code step.
  double nearest = 0.0, stochastic = 0.0;
  const int draws = 10000;
  for (int i = 0; i < draws; ++i) {
    const float u = kernels::uniform01(/*stream=*/5, static_cast<std::uint64_t>(i));
    nearest += kernels::quantize_nearest(0.0037f, 0.01f, 0.0f, 8) * 0.01;
    stochastic += kernels::quantize_stochastic(0.0037f, 0.01f, 0.0f, 8, u) * 0.01;
  }
  std::printf("storing 0.0037 at scale 0.01: nearest -> %.5f, stochastic -> %.5f on average\n\n",
              nearest / draws, stochastic / draws);

  // Train each codec on the planted task; the ratio and AUC show the trade-off. With the same
  // global scale, int16 and int8 store the very same codes until a value passes +-1.27 (the
  // int8 range): int16 pays off with a finer scale or a larger range.
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  const std::string specs[] = {"full",                      // fp32 reference, 1x
                               "int16",                     // global scale 0.01
                               "int16:scale=0.0001",        // 100x finer steps, range +-3.3
                               "int16:scale_mode=per_row",  // scale follows each row
                               "int8",                      // 256 levels in [-1.28, 1.27]
                               "int8:scale_mode=per_row",
                               "int8:scale=0.001"};         // too fine: saturates at +-0.128
  for (const std::string& spec : specs) {
    // A budget is a ceiling on bytes: ratio 1 admits every codec, and memory() reports the
    // ratio actually reached.
    auto table = make_table(spec, {schema, Budget{1.0}, /*seed=*/1});
    Adam adam(0.001f);
    const ProbeResult r = train_linear_probe(*table, adam, task, /*steps=*/1000, /*batch=*/512);
    const MemoryReport m = table->memory(&adam);
    // The optimizer state stays fp32, so the training ratio is far below the serving ratio.
    std::printf("%-46s serving %7zu B  ratio %4.2fx (training %4.2fx)  AUC %.4f  logloss %.4f\n",
                table->spec().c_str(), m.serving_bytes, m.ratio(), m.training_ratio(), r.auc,
                r.logloss);
  }

  // Asking int8 for more than its bits allow is an InfeasibleBudget naming its highest ratio.
  try {
    make_table("int8", {schema, Budget{10.0}, 1});
  } catch (const InfeasibleBudget& e) {
    std::printf("\nint8 at 10x: infeasible, highest ratio %.4fx\n", e.limit_ratio());
  }
  return 0;
}
