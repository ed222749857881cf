// embcomp_train_bench: one CTR training step, as the trainer runs it (src/train/trainer.cpp),
// on pregenerated synthetic Criteo-like batches:
//   table.forward -> model.forward -> bce_with_logits -> model.backward -> table.backward
//   -> optimizer.step({table grads, model grads}) -> table.after_step
// Names: <model>_step/<method>/<ratio>x/b<batch>/d<dim>/<optimizer>/threads:<n>[/read]; the
// /read variant also generates each batch inside the timed step (SyntheticCtr::read, as the
// trainer does).
// items_per_second = samples/s; counter table_rows = rows of the method's table (the PyTorch
// peer, benchmarks/peers/torch_dlrm.py, takes it as --rows); counter dense_macs_per_second =
// samples/s x 3 x the model's weight elements (forward, input gradient and weight gradient of
// every layer's weights; the interaction's and cross layers' products and the biases are left
// out), to set against
//   fma_peak/threads:<n>   the machine's multiply-add peak on n threads: 12 independent
//                          chains of 8-wide FMAs per thread (AVX2+FMA, chosen at run time;
//                          skipped without them), items = multiply-adds.
//
// Data: SyntheticCtr with the CLI's defaults (Criteo Kaggle cardinalities x --scale 0.001,
// 13 dense features, Zipf(1.1) ids); 16 batches cycled. Optimizer: SGD (the setting)
// or Adam (the reference README's recipe), lr 1e-3, made by embcomp::make_optimizer. Times are wall-clock (UseRealTime): the step runs on <n> OpenMP threads.
//
//   embcomp_train_bench                                    all entries
//   embcomp_train_bench --benchmark_filter='^dlrm_step/hash/5x/b128/d16/sgd/threads:2/'
//   embcomp_train_bench --benchmark_repetitions=5 --benchmark_format=json
#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "embcomp/data/schemas.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/nn/loss.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"

namespace embcomp::bench {
namespace {

constexpr std::size_t kBatches = 16;
bool any_failed = false;  // a step threw: the run exits with status 1 (the CTest smoke run)

struct StepSpec {
  std::string model;
  std::string method;
  double ratio;
  Index batch;
  Index dim;
  std::string optimizer;  ///< "sgd" or "adam" (lr 1e-3)
  int threads;
  bool read;  ///< generate each batch inside the timed step
};

std::string step_name(const StepSpec& s) {
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%g", s.ratio);
  return s.model + "_step/" + s.method + "/" + ratio + "x/b" + std::to_string(s.batch) + "/d" +
         std::to_string(s.dim) + "/" + s.optimizer + "/threads:" + std::to_string(s.threads) +
         (s.read ? "/read" : "");
}

/// Everything one step touches, built once per benchmark run (untimed).
class TrainStep {
 public:
  explicit TrainStep(const StepSpec& s)
      : spec_(s), source_(synthetic_config()), optimizer_(make_optimizer(s.optimizer, 1e-3f)) {
    const Schema schema = source_.schema(s.dim);
    table_ = make_table(s.method, TableArgs{schema, Budget{s.ratio}, 123});
    ModelArgs args;
    args.num_fields = schema.num_fields();
    args.dim = s.dim;
    args.num_dense = source_.num_dense();
    args.seed = 123;
    model_ = make_model(s.model, args);
    batches_.resize(kBatches);
    for (std::size_t i = 0; i < kBatches; ++i) read(i, batches_[i]);
  }

  /// One training step on pregenerated batch i % kBatches (generated now with spec.read).
  void run(std::size_t i) {
    const std::size_t slot = i % kBatches;
    if (spec_.read) read(i, batches_[slot]);
    const Batch& b = batches_[slot];
    const Index positions = b.size * b.num_fields;
    const Index d = spec_.dim;
    embeddings_.resize(static_cast<std::size_t>(positions * d));
    dE_.resize(embeddings_.size());
    logits_.resize(static_cast<std::size_t>(b.size));
    dlogits_.resize(logits_.size());
    table_->forward(b.id_batch(), {embeddings_.data(), positions, d});
    model_->forward(b, {embeddings_.data(), positions, d}, logits_);
    benchmark::DoNotOptimize(nn::bce_with_logits(logits_, b.labels, dlogits_));
    model_grads_.clear();
    model_->backward(dlogits_, model_grads_, {dE_.data(), positions, d});
    table_->backward(b.id_batch(), {dE_.data(), positions, d}, table_grads_);
    optimizer_->step({&table_grads_, &model_grads_});
    table_->after_step(StepContext{++steps_, 0, 0.0});
  }

  /// Multiply-adds of one sample's forward and backward through the model's weights: 3 x the
  /// elements of every parameter of more than one row (the biases are single rows).
  double dense_macs_per_sample() const {
    double elements = 0.0;
    for (const Parameter* p : model_->parameters()) {
      if (p->rows() > 1) elements += static_cast<double>(p->size());
    }
    return 3.0 * elements;
  }

  /// Rows of the table's parameters (the hash table's M for `hash`).
  Index table_rows() const {
    Index rows = 0;
    for (const Parameter* p : std::as_const(*table_).parameters()) rows += p->rows();
    return rows;
  }

 private:
  static SyntheticConfig synthetic_config() {
    SyntheticConfig c;
    c.cardinalities = scaled_cardinalities(criteo_kaggle_schema(), 0.001);
    return c;
  }
  void read(std::size_t i, Batch& out) const {
    source_.read(SplitPart::train, static_cast<Index>(i) * spec_.batch, spec_.batch, out);
  }

  StepSpec spec_;
  SyntheticCtr source_;
  std::unique_ptr<EmbeddingTable> table_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<Batch> batches_;
  std::vector<float> embeddings_, dE_, logits_, dlogits_;
  Gradients table_grads_, model_grads_;
  std::uint64_t steps_ = 0;
};

void train_step(benchmark::State& state, const StepSpec& spec) {
  omp_set_num_threads(spec.threads);
  std::unique_ptr<TrainStep> step;
  try {
    step = std::make_unique<TrainStep>(spec);
    for (std::size_t i = 0; i < 2 * kBatches; ++i) step->run(i);  // warm-up, untimed
    std::size_t i = 0;
    for (auto _ : state) {
      step->run(i++);
      benchmark::ClobberMemory();
    }
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("failed: ") + e.what()).c_str());
    any_failed = true;
    return;
  }
  state.SetItemsProcessed(state.iterations() * spec.batch);
  state.counters["table_rows"] = static_cast<double>(step->table_rows());
  state.counters["dense_macs_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * spec.batch) * step->dense_macs_per_sample(),
      benchmark::Counter::kIsRate);
}

#if defined(__x86_64__) || defined(__i386__)
/// `rounds` x 12 independent 8-wide FMAs (12 x 8 x rounds multiply-adds): enough chains to
/// cover the FMA latency times the FMA ports of current x86 cores.
__attribute__((target("avx2,fma"))) float fma_chains(std::int64_t rounds, float seed) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(seed + static_cast<float>(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (std::int64_t r = 0; r < rounds; ++r) {
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  }
  __m256 sum = acc[0];
  for (int j = 1; j < 12; ++j) sum = _mm256_add_ps(sum, acc[j]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0];
}
#endif

/// The multiply-add peak on `threads` threads (each runs its own chains).
void fma_peak(benchmark::State& state, int threads) {
#if defined(__x86_64__) || defined(__i386__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    state.SkipWithError("skipped: no AVX2+FMA on this CPU");
    return;
  }
  constexpr std::int64_t kRounds = 1 << 20;
  float sink = 0.0f;
  for (auto _ : state) {
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += fma_chains(kRounds, static_cast<float>(omp_get_thread_num()));
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations() * threads * kRounds * 12 * 8);
#else
  state.SkipWithError("skipped: the FMA peak is measured on x86 only");
#endif
}

/// DLRM with SGD and Adam, the step with and without generating the batch; WDL and DCN with
/// SGD and Adam; DLRM with cafe and cafe-ml against hash at 5x with SGD (the reference's training
/// throughput setting: Criteo, 5x, SGD, batch 128); each on 1 and 2 threads.
void register_all() {
  std::vector<StepSpec> specs;
  for (int threads : {1, 2}) {
    for (const char* optimizer : {"sgd", "adam"}) {
      for (bool read : {false, true}) specs.push_back({"dlrm", "hash", 5.0, 128, 16, optimizer, threads, read});
    }
    for (const char* model : {"wdl", "dcn"}) {
      for (const char* optimizer : {"sgd", "adam"}) {
        specs.push_back({model, "hash", 5.0, 128, 16, optimizer, threads, false});
      }
    }
    for (const char* method : {"cafe", "cafe-ml"}) specs.push_back({"dlrm", method, 5.0, 128, 16, "sgd", threads, false});
  }
  for (const StepSpec& spec : specs) {
    benchmark::RegisterBenchmark(step_name(spec).c_str(), train_step, spec)->UseRealTime();
  }
  for (int threads : {1, 2}) {
    const std::string name = "fma_peak/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(name.c_str(), fma_peak, threads)->UseRealTime();
  }
}

}  // namespace
}  // namespace embcomp::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  embcomp::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return embcomp::bench::any_failed ? 1 : 0;
}
