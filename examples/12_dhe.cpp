// 12: DHE, deep hash embeddings (spec methods-inter.md §4).
//
// No table at all: id x is hashed by k universal hashes h_i(x) = ((a_i x + b_i) mod p_i) mod m,
// the k results are scaled to [-1, 1] (or made Gaussian), and an MLP
//   k -> H -> H -> H -> H -> H -> d   (BatchNorm + Mish after each hidden layer)
// turns that code into the embedding. Memory is the network's weights, so H follows from the
// budget; a field gets its own network only where that is smaller than its table. DHE trades
// memory for compute: every lookup runs the MLP (k H + 4 H^2 + H d multiply-adds per id).
// BatchNorm uses batch statistics in training (forward) and running ones at lookup, so lookup
// after training differs from the training forward by design. Options:
//   hashes=1024 (k), buckets=1000000 (m), encoding=uniform | normal, threshold=T
#include <embcomp/methods/dhe.hpp>
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
    const DhePlan& plan = dynamic_cast<const DheTable&>(*table).sizing();
    std::string fields;
    for (bool net : plan.network) fields += net ? 'N' : 'F';  // network or full table
    Adam adam(0.01f);
    const ProbeResult r =
        train_linear_probe(*table, adam, PlantedTask(schema, 7), /*steps=*/400, /*batch=*/256);
    std::printf("%-34s %4.0fx  H %4lld  fields %s  AUC %.4f\n    %s\n", table->spec().c_str(), ratio,
                static_cast<long long>(plan.hidden), fields.c_str(), r.auc,
                table->memory(&adam).to_string().c_str());
  } catch (const InfeasibleBudget& e) {
    std::printf("%-34s infeasible at %gx: highest ratio %.1fx\n", spec.c_str(), ratio, e.limit_ratio());
  }
}

}  // namespace

int main() {
  const Schema schema{{20000, 2000, 200, 20}, 16};
  std::printf("full fp32 tables: %.0f B\n\n", schema.full_bytes());

  // With the reference's k = 1024, one network of width 1 already takes 1,085 floats: a field
  // needs more than 67 ids (x 16 floats) to shrink at all, and these tables ~99x at most.
  std::printf("the reference's 1024 hashes:\n");
  for (double ratio : {4.0, 20.0}) run("dhe", schema, ratio);

  std::printf("\nfewer hashes leave more of the budget to the hidden layers:\n");
  run("dhe:hashes=64", schema, 20.0);
  run("dhe:hashes=64,encoding=normal", schema, 20.0);

  std::printf("\ntoo small for even H = 1:\n");
  run("dhe", schema, 1000.0);
  return 0;
}
