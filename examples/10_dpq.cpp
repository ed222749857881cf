// 10: a method whose training forward differs from its lookup: dpq, differentiable product
// quantization (spec methods-intra.md §3), served as codes + centroids.
//
// Each embedding is cut into D parts; each part is replaced by the nearest of K centroids, so
// serving needs only ceil(log2 K) bits per part and the centroids. Training keeps a full query
// table Q (a training-only parameter: counted in training memory, not in serving). The
// training forward (EmbeddingTable::forward) picks the nearest centroids of Q's rows and writes
// their codes; the backward is a straight-through surrogate (exact_gradient() is false): Q gets
// dE as if the output were Q itself, and the centroids are pulled toward the queries assigned
// to them by a regulariser (auxiliary_loss()). Lookups (validation, serving) decode the codes.
// The budget picks D: the most parts whose packed codes and centroids fit.
#include <embcomp/data/planted.hpp>
#include <embcomp/methods/dpq.hpp>
#include <embcomp/optim/adam.hpp>
#include <embcomp/registry.hpp>
#include <embcomp/train/probe.hpp>

#include <cstdio>

using namespace embcomp;

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  const PlantedTask task(schema, 7);
  for (double ratio : {2.0, 10.0, 40.0}) {
    auto table = make_table("dpq", {schema, Budget{ratio}, /*seed=*/1});
    const auto& dpq = dynamic_cast<const DpqTable&>(*table);
    Adam adam(0.001f);
    const ProbeResult r = train_linear_probe(*table, adam, task, /*steps=*/1000, /*batch=*/512);
    const MemoryReport m = table->memory(&adam);
    std::printf("dpq at %4.1fx: D = %lld parts of K = %lld centroids (%d-bit codes); serving %7zu B, "
                "ratio %6.2fx, training %9zu B; held-out AUC %.4f\n",
                ratio, static_cast<long long>(dpq.layout().parts),
                static_cast<long long>(dpq.layout().centroids), dpq.layout().bits(),
                m.serving_bytes, m.ratio(), m.training_bytes(), r.auc);
    std::printf("  serving form: %s\n", table->freeze()->spec().c_str());
  }
  return 0;
}
