// HotSketch benchmarks (registered at start-up, before the main's own):
//   sketch/insert/zipf<z>      HotSketch::insert_batch of 4096 frequency scores, Zipf(z) ids
//   sketch/query/zipf<z>       HotSketch::query_batch of 4096 ids on a filled sketch
//     The sketch has the reference's Criteo 1000x sizing: w = k = 13,505 buckets of 4 slots
//     (633 KiB), T = 500, decay 0.99; 1,000,000 distinct ids. items/s = ids/s (Mops/s x 1e6).
//   CAFE's training step against hash at the same budget: cafe/train and hash/train in
//   methods_bench.cpp (their step includes after_step).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "embcomp/sketch/hot_sketch.hpp"
#include "harness.hpp"

namespace embcomp::bench {

namespace {

constexpr Index kSketchBatch = 4096;
constexpr Index kSketchRows = 13505;  // floor(totn x 0.7 x 0.001 x 16 / 28) on Criteo (spec §5)
constexpr Index kDistinct = 1000000;
constexpr std::size_t kZipfBatches = 64;

/// kZipfBatches batches of Zipf(z) ids over kDistinct ids (scrambled ranks), made once per z.
const std::vector<std::vector<std::uint64_t>>& zipf_batches(double z) {
  static std::vector<std::pair<double, std::vector<std::vector<std::uint64_t>>>> cache;
  for (const auto& [key, batches] : cache) {
    if (key == z) return batches;
  }
  std::vector<double> cdf(static_cast<std::size_t>(kDistinct));
  double sum = 0.0;
  for (Index i = 0; i < kDistinct; ++i) cdf[i] = sum += std::pow(static_cast<double>(i + 1), -z);
  std::mt19937_64 rng(0x5ce7c4ULL);
  std::uniform_real_distribution<double> u(0.0, sum);
  std::vector<std::vector<std::uint64_t>> batches(kZipfBatches);
  for (auto& batch : batches) {
    batch.resize(static_cast<std::size_t>(kSketchBatch));
    for (auto& id : batch) {
      const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
      id = kernels::mix64(static_cast<std::uint64_t>(rank)) & 0x7fffffffULL;
    }
  }
  cache.emplace_back(z, std::move(batches));
  return cache.back().second;
}

HotSketchConfig reference_sizing() {
  return {kSketchRows, 4, kSketchRows, 500.0f, 0.99f, kernels::SketchHash::modulo, 0};
}

void sketch_insert(benchmark::State& state, double z) {
  const auto& batches = zipf_batches(z);
  HotSketch sketch(reference_sizing());
  const std::vector<float> ones(static_cast<std::size_t>(kSketchBatch), 1.0f);
  std::vector<SketchPromotion> promoted;
  std::size_t b = 0;
  for (auto _ : state) {
    sketch.insert_batch(batches[b], ones, promoted);
    benchmark::DoNotOptimize(promoted.data());
    b = b + 1 == batches.size() ? 0 : b + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kSketchBatch);
  state.SetLabel("hot rows in use " + std::to_string(sketch.hot_count()));
}

void sketch_query(benchmark::State& state, double z) {
  const auto& batches = zipf_batches(z);
  HotSketch sketch(reference_sizing());
  const std::vector<float> ones(static_cast<std::size_t>(kSketchBatch), 1.0f);
  std::vector<SketchPromotion> promoted;
  for (int pass = 0; pass < 4; ++pass) {
    for (const auto& batch : batches) sketch.insert_batch(batch, ones, promoted);
  }
  std::vector<SketchQuery> out(static_cast<std::size_t>(kSketchBatch));
  std::size_t b = 0;
  for (auto _ : state) {
    sketch.query_batch(batches[b], out);
    benchmark::DoNotOptimize(out.data());
    b = b + 1 == batches.size() ? 0 : b + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kSketchBatch);
}

[[maybe_unused]] const bool registered = [] {
  for (double z : {1.05, 1.5}) {
    char name[64];
    std::snprintf(name, sizeof name, "sketch/insert/zipf%g", z);
    benchmark::RegisterBenchmark(name, sketch_insert, z);
    std::snprintf(name, sizeof name, "sketch/query/zipf%g", z);
    benchmark::RegisterBenchmark(name, sketch_query, z);
  }
  return true;
}();

}  // namespace

}  // namespace embcomp::bench
