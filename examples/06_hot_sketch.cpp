// 06: HotSketch on its own, as a heavy-hitter sketch (spec cafe.md §1).
//
// A HotSketch is w buckets of 4 slots (id, score, hot row), 12 bytes a slot. insert(id, score)
// adds to the id's score (Space-Saving: a new id replaces the bucket's smallest slot unless that
// slot is hot); once a tracked id's score reaches the threshold T and a hot row is free, the id
// is "hot" and owns that row until decay demotes it. query(id) never modifies the sketch.
// Here: a Zipf(1.1) stream of 2,000,000 ids over 500,000 distinct ids, k = 2,000 hot rows,
// frequency scores; we compare the sketch's hot set and top-k with the exact counts.
#include <embcomp/registry.hpp>
#include <embcomp/sketch/hot_sketch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <unordered_map>
#include <vector>

using namespace embcomp;

int main() {
  const Index distinct = 500000, length = 2000000, k = 2000;
  const double z = 1.1;

  // Zipf ranks by inversion of the CDF; ranks are scrambled into arbitrary 31-bit ids.
  std::vector<double> cdf(static_cast<std::size_t>(distinct));
  double sum = 0.0;
  for (Index i = 0; i < distinct; ++i) cdf[i] = sum += std::pow(static_cast<double>(i + 1), -z);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0.0, sum);
  auto next_id = [&] {
    const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    return kernels::mix64(static_cast<std::uint64_t>(rank)) & 0x7fffffffULL;
  };

  std::vector<std::uint64_t> stream(static_cast<std::size_t>(length));
  std::unordered_map<std::uint64_t, Index> exact;
  for (auto& id : stream) ++exact[id = next_id()];
  std::vector<std::pair<Index, std::uint64_t>> truth;
  for (const auto& [id, count] : exact) truth.emplace_back(count, id);
  std::sort(truth.rbegin(), truth.rend());
  std::printf("stream: %lld ids, %zu distinct; the %lld-th most frequent id occurs %lld times\n",
              static_cast<long long>(length), exact.size(), static_cast<long long>(k),
              static_cast<long long>(truth[static_cast<std::size_t>(k - 1)].first));

  // k hot rows; T = 30 (about half the k-th count, so that about the top-k deserve a row): an
  // id is hot once its (estimated) count reaches 30, on a hit, while rows are free; decay x0.99
  // every 10 x w x T inserted. Two sizings: w = k buckets (CAFE's: 48 B of sketch per hot row) and
  // w = 2.4 k (the reference's HotSketch experiment).
  double best_recall = 0.0;
  for (double factor : {1.0, 2.4}) {
    const auto buckets = static_cast<Index>(factor * static_cast<double>(k));
    HotSketch sketch({buckets, 4, k, 30.0f, 0.99f, kernels::SketchHash::xxhash, 7});
    const std::vector<float> ones(4096, 1.0f);  // frequency: score 1 per occurrence
    std::vector<SketchPromotion> promoted;
    Index promotions = 0;
    for (std::size_t i = 0; i < stream.size(); i += 4096) {
      const std::size_t n = std::min<std::size_t>(4096, stream.size() - i);
      sketch.insert_batch(std::span(stream).subspan(i, n), std::span(ones).first(n), promoted);
      promotions += static_cast<Index>(promoted.size());  // decay check, then inserts in order
    }
    Index hot_hits = 0;
    for (Index i = 0; i < k; ++i) hot_hits += sketch.query(truth[static_cast<std::size_t>(i)].second).hot();
    const double recall = static_cast<double>(hot_hits) / static_cast<double>(k);
    best_recall = std::max(best_recall, recall);
    std::printf("\nw = %lld buckets x 4 slots: %zu B (12 B/slot + 4 B/hot row for the free list)\n",
                static_cast<long long>(buckets), sketch.bytes());
    std::printf("  hot rows in use %lld of %lld, promotions %lld, decays %llu\n",
                static_cast<long long>(sketch.hot_count()), static_cast<long long>(k),
                static_cast<long long>(promotions), static_cast<unsigned long long>(sketch.decays()));
    std::printf("  recall of the exact top-%lld among hot ids: %.3f\n", static_cast<long long>(k), recall);
    std::printf("  top 5 by sketch score (Space-Saving over-estimates, decay scales down):\n");
    for (const SketchEntry& e : sketch.top_k(5)) {
      std::printf("  %12u score %10.1f exact %8lld %s\n", e.id, static_cast<double>(e.score),
                  static_cast<long long>(exact[e.id]), e.hot ? "hot" : "");
    }
  }
  return best_recall >= 0.8 ? 0 : 1;  // a smoke check: most of the top-k is hot
}
