// gemm/<m>x<n>x<k>: the machine's dense fp32 product rate through kernels::gemm, the yardstick
// of compute-bound methods (dhe's lookup is a batched MLP, tt's a batched contraction). Items
// are multiply-adds, so items/s is the MAC rate; the summary reports a method's lookup MAC rate
// (rows/s x its "multiply_adds_per_lookup" statistic) as a fraction of the best of these, all
// measured in the same run. Shapes: a DHE first layer (4096 ids x 1024 hashes -> 256) and its
// hidden layers (256 -> 256), and one DLRM top-MLP layer (4096 x 512 -> 256).
#include <vector>

#include "embcomp/kernels/gemm.hpp"
#include "harness.hpp"

namespace embcomp::bench {

namespace {

void gemm(benchmark::State& state, Index m, Index n, Index k) {
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
      c(static_cast<std::size_t>(m * n));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 97) * 1e-2f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 89) * 1e-2f;
  for (auto _ : state) {
    kernels::gemm(m, n, k, {a.data(), k}, {b.data(), n}, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * m * n * k);
}

}  // namespace

void register_gemm() {
  struct Shape {
    Index m, n, k;
  };
  for (const Shape s : {Shape{4096, 256, 1024}, Shape{4096, 256, 256}, Shape{4096, 256, 512}}) {
    const std::string name = "gemm/" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                             std::to_string(s.k);
    benchmark::RegisterBenchmark(name.c_str(), gemm, s.m, s.n, s.k)->UseRealTime();
    add_entry({name, Size::small, 0, "gemm", "gemm"});
  }
}

}  // namespace embcomp::bench
