// 15: frequency groups inside product quantization: mgqe, multi-granular quantized embedding
// (spec methods-intra.md §4), served as codes of two widths + centroids + the split.
//
// mgqe trains as dpq (example 10: a training-only query table, nearest centroids in the
// training forward, a straight-through backward, a regulariser as auxiliary loss), but each
// field's most frequent ids (top_percent, from the training-split counts when given, else the
// ids' frequency ranks) may take all K_high centroids of a part, the rest only the first
// K_low: 8-bit codes for frequent ids, 6-bit ones for the rest. The split is served as per-field
// thresholds (ids are ranks) or, where the counts disagree with the ids' order, a bitset of
// frequent rows with a rank per 64 rows. The budget picks D (the most parts that fit) and,
// below one part, halves the centroid counts.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/mgqe.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>

using namespace embcomp;

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  for (double ratio : {4.0, 20.0, 100.0}) {
    auto table = make_table("mgqe", {schema, Budget{ratio}, /*seed=*/1});
    const auto& mgqe = dynamic_cast<const MgqeTable&>(*table);
    const GroupedPqLayout& l = mgqe.layout();
    Adam adam(0.001f);
    const ProbeResult r = train_linear_probe(*table, adam, task, /*steps=*/1000, /*batch=*/512);
    const MemoryReport m = table->memory(&adam);
    std::printf("mgqe at %5.1fx: D = %lld parts, K = %lld / %lld centroids (%d / %d-bit codes) for "
                "%lld frequent / %lld other rows; serving %7zu B, ratio %6.2fx, training %9zu B; "
                "held-out AUC %.4f\n",
                ratio, static_cast<long long>(l.parts), static_cast<long long>(l.high_centroids),
                static_cast<long long>(l.low_centroids), l.high_bits(), l.low_bits(),
                static_cast<long long>(mgqe.split().high_rows()),
                static_cast<long long>(mgqe.split().low_rows()), m.serving_bytes, m.ratio(),
                m.training_bytes(), r.auc);
    std::printf("  serving form: %s\n", table->freeze()->spec().c_str());
  }
  return 0;
}
