// CAFE's training step against hash's at an equal budget, measured in pairs:
//   paired/<method>_vs_hash/small/d16   cafe and cafe-ml, 100x, Adam, at EMBCOMP_BENCH_THREADS
// Each iteration times one hash step and then one step of the method (train_step: forward,
// backward, optimizer, after_step) on the same batch. The counter hash_over_<method> is the
// median over the iterations of hash's time over the method's in the same pair: a shared,
// noisy machine slows both steps of a pair alike, so the ratio holds where separate runs of
// <method>/train and hash/train drift by 20% between runs (issue 17's goal: >= 0.8).
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"
#include "harness.hpp"

namespace embcomp::bench {
namespace {

/// A table with its optimizer (Adam, as <method>/train) and gradients.
struct Trained {
  explicit Trained(std::unique_ptr<EmbeddingTable> t) : table(std::move(t)) {}
  std::unique_ptr<EmbeddingTable> table;
  std::unique_ptr<Optimizer> optimizer = make_optimizer("adam", 1e-3f);
  Gradients grads;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

void paired_step(benchmark::State& state, const std::string& method) {
  Workload& w = workload(Size::small, 16);
  const TableArgs args(w.schema, Budget{100.0}, /*seed=*/7);
  Trained hash{make_table("hash", args)}, other{make_table(method, args)};
  using Clock = std::chrono::steady_clock;
  std::vector<double> ratios, hash_ms, other_ms;
  std::size_t b = 0;
  try {
    for (int warmup = 0; warmup < 3; ++warmup) {  // first steps allocate optimizer state
      train_step(*hash.table, *hash.optimizer, hash.grads, w, b);
      train_step(*other.table, *other.optimizer, other.grads, w, b);
    }
    for (auto _ : state) {
      const Clock::time_point t0 = Clock::now();
      train_step(*hash.table, *hash.optimizer, hash.grads, w, b);
      const Clock::time_point t1 = Clock::now();
      train_step(*other.table, *other.optimizer, other.grads, w, b);
      const Clock::time_point t2 = Clock::now();
      const double h = std::chrono::duration<double, std::milli>(t1 - t0).count();
      const double o = std::chrono::duration<double, std::milli>(t2 - t1).count();
      state.SetIterationTime((h + o) * 1e-3);
      hash_ms.push_back(h), other_ms.push_back(o), ratios.push_back(h / o);
      b = b + 1 == w.batches() ? 0 : b + 1;
    }
  } catch (const std::exception& e) {
    state.SkipWithError((kFailed + "paired " + method + " step: " + e.what()).c_str());
    return;
  }
  state.counters["hash_over_" + method] = median(ratios);
  state.counters["hash_ms"] = median(hash_ms);
  state.counters[method + "_ms"] = median(other_ms);
}

[[maybe_unused]] const bool registered = [] {
  for (const std::string method : {"cafe", "cafe-ml"}) {
    const std::string name = "paired/" + method + "_vs_hash/small/d16";
    benchmark::RegisterBenchmark(name.c_str(), paired_step, method)->UseManualTime();
  }
  return true;
}();

}  // namespace
}  // namespace embcomp::bench
