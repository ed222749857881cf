// Per registered method (embcomp::methods(), so methods added to the registry are picked up
// without touching this file), at each (size, dim):
//   <key>/lookup/<size>/d<dim>  EmbeddingTable::lookup of one [4096 x 26] batch
//   <key>/train/<size>/d<dim>   forward + backward(ids, dE) + embcomp::Adam step + after_step
//   full/train_<optimizer>/<size>/d<dim>
//                               the same step of full with sgd and rowwise_adagrad (the
//                               optimizers FBGEMM's TBE fuses; benchmarks/peers/fbgemm_tbe.py)
//   <key>/serve/<size>/d<dim>   lookup of the serving form (every stage begun, finalize(),
//                               freeze()), for methods with a form of their own
//                               (MethodInfo::serving_form)
// Each method runs at a ratio it supports (full 1, int16 1.9, int8 3.9, every other 1000 on the
// large size and 100 on the small one: the compressed tables then fit in cache, and the report
// compares them with the raw gather of the full-size table; cafe/train against hash/train at
// the same size is CAFE's training cost at an equal budget). A method that cannot fit falls back to the highest ratio it reaches
// (InfeasibleBudget::limit_ratio); one that still cannot fit is skipped with the reason, and one
// that throws anything else is reported as failed (the run then exits with status 1).
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"
#include "harness.hpp"

namespace embcomp::bench {

namespace {

/// The ratio each method is benchmarked at: the compressed ones at 1000 on the large size and
/// 100 on the small one (whose 1.5 MiB table at 1000x would leave CAFE's hot table and sketch
/// no room: it would fall back to another budget, and its step could not be set against hash's
/// at an equal one).
double default_ratio(const std::string& key, Size size) {
  if (key == "full") return 1.0;
  if (key == "int16") return 1.9;
  if (key == "int8") return 3.9;
  return size == Size::small ? 100.0 : 1000.0;
}

/// For compute-bound methods (a "multiply_adds_per_lookup" statistic: dhe, tt), the counter
/// multiply_adds_per_second, which the summary sets against the gemm benchmark's rate.
void set_compute_rate(benchmark::State& state, const EmbeddingTable& table, const Workload& w) {
  for (const TableStatistic& s : table.statistics()) {
    if (s.name != "multiply_adds_per_lookup") continue;
    const double lookups = static_cast<double>(state.iterations()) * static_cast<double>(w.lookups());
    state.counters["multiply_adds_per_second"] =
        benchmark::Counter(lookups * s.value, benchmark::Counter::kIsRate);
  }
}

struct MethodState : Held {
  std::unique_ptr<EmbeddingTable> table;
  /// By name (make_optimizer), each made by the first train benchmark that steps with it.
  std::map<std::string, std::unique_ptr<Optimizer>> optimizers;
  Gradients grads;
  std::string error;  ///< why there is no table
  std::string label;
};

std::unique_ptr<EmbeddingTable> build(const std::string& key, const Schema& schema,
                                      double ratio) {
  return make_table(key, TableArgs{schema, Budget{ratio}, 42});
}

std::unique_ptr<Held> make_method_state(const std::string& key, Size size, const Workload& w) {
  auto m = std::make_unique<MethodState>();
  double ratio = default_ratio(key, size);
  try {
    try {
      m->table = build(key, w.schema, ratio);
    } catch (const InfeasibleBudget& e) {
      // Three significant digits below the method's limit.
      const double limit = e.limit_ratio();
      const double step = std::pow(10.0, std::floor(std::log10(limit)) - 2.0);
      const double fallback = std::floor(limit / step) * step;
      if (!(fallback >= 1.0)) throw;
      std::fprintf(stderr, "note: %s cannot reach ratio %g at %s/d%lld; using %g\n",
                   key.c_str(), ratio, size_name(size), static_cast<long long>(w.schema.dim),
                   fallback);
      ratio = fallback;
      m->table = build(key, w.schema, ratio);
    }
  } catch (const InfeasibleBudget& e) {
    m->table.reset();
    m->error = std::string(kSkipped) + e.what();
    return m;
  } catch (const std::exception& e) {
    m->table.reset();
    m->error = std::string(kFailed) + "building " + key + ": " + e.what();
    return m;
  }
  const MemoryReport mem = m->table->memory();
  char label[96];
  std::snprintf(label, sizeof label, "ratio %gx (serving %.3g MiB)", mem.ratio(),
                static_cast<double>(mem.serving_bytes) / (1024.0 * 1024.0));
  std::vector<std::pair<const void*, std::size_t>> fp32_buffers;
  for (const Parameter* p : std::as_const(*m->table).parameters()) {
    if (p->is_fp32()) fp32_buffers.emplace_back(p->data(), p->size() * sizeof(float));
  }
  m->label = label + huge_page_note(fp32_buffers);
  return m;
}

MethodState& method_state(const std::string& key, Size size, Index dim, const Workload& w) {
  return static_cast<MethodState&>(
      acquire(bench_name(key, "", size, dim), [&] { return make_method_state(key, size, w); }));
}

void lookup(benchmark::State& state, const std::string& key, Size size, Index dim) {
  Workload& w = workload(size, dim);
  MethodState& m = method_state(key, size, dim, w);
  if (!m.table) {
    state.SkipWithError(m.error.c_str());
    return;
  }
  const Matrix out{w.out.data(), w.lookups(), dim};
  std::size_t b = 0;
  try {
    for (auto _ : state) {
      m.table->lookup(w.batch(b), out);
      benchmark::DoNotOptimize(out.data);
      benchmark::ClobberMemory();
      b = b + 1 == w.batches() ? 0 : b + 1;
    }
  } catch (const std::exception& e) {
    state.SkipWithError((kFailed + key + " lookup: " + e.what()).c_str());
    return;
  }
  set_rates(state, w);
  set_compute_rate(state, *m.table, w);
  state.SetLabel(m.label);
}

/// The serving form of a freshly built, finalized table (the trainable table is freed).
struct ServingState : Held {
  std::unique_ptr<EmbeddingTable> form;
  std::string error;
  std::string label;
};

void serve(benchmark::State& state, const std::string& key, Size size, Index dim) {
  Workload& w = workload(size, dim);
  auto& s = static_cast<ServingState&>(acquire(bench_name(key, "serve", size, dim), [&] {
    auto held = std::make_unique<ServingState>();
    std::unique_ptr<Held> table = make_method_state(key, size, w);
    auto& m = static_cast<MethodState&>(*table);
    if (!m.table) {
      held->error = m.error;
      return held;
    }
    try {
      // Every stage begun (dedup merges its blocks at the start of its second), then finalize:
      // the form a training run would serve, without its training steps.
      for (std::size_t stage = 0; stage < m.table->stages().size(); ++stage) {
        m.table->begin_stage(stage);
      }
      m.table->finalize();
      held->form = m.table->freeze();
    } catch (const InfeasibleBudget& e) {
      held->error = std::string(kSkipped) + e.what();
      return held;
    } catch (const std::exception& e) {
      held->error = kFailed + key + " freeze: " + e.what();
      return held;
    }
    const MemoryReport mem = held->form->memory();
    char label[128];
    std::snprintf(label, sizeof label, "%s: ratio %gx (serving %.3g MiB)",
                  held->form->spec().c_str(), mem.ratio(),
                  static_cast<double>(mem.serving_bytes) / (1024.0 * 1024.0));
    held->label = label;
    return held;
  }));
  if (!s.form) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  const Matrix out{w.out.data(), w.lookups(), dim};
  std::size_t b = 0;
  for (auto _ : state) {
    s.form->lookup(w.batch(b), out);
    benchmark::DoNotOptimize(out.data);
    benchmark::ClobberMemory();
    b = b + 1 == w.batches() ? 0 : b + 1;
  }
  set_rates(state, w);
  state.SetLabel(s.label);
}

void train(benchmark::State& state, const std::string& key, Size size, Index dim,
           const std::string& optimizer_name) {
  Workload& w = workload(size, dim);
  MethodState& m = method_state(key, size, dim, w);
  if (!m.table) {
    state.SkipWithError(m.error.c_str());
    return;
  }
  std::unique_ptr<Optimizer>& optimizer = m.optimizers[optimizer_name];
  auto step = [&](std::size_t b) { train_step(*m.table, *optimizer, m.grads, w, b); };
  std::size_t b = 0;
  try {
    if (!optimizer) {
      // Untimed: the first step allocates the optimizer state (2 x the table for Adam).
      optimizer = make_optimizer(optimizer_name, 1e-3f);
      step(w.batches() - 1);
    }
    for (auto _ : state) {
      step(b);
      benchmark::ClobberMemory();
      b = b + 1 == w.batches() ? 0 : b + 1;
    }
  } catch (const std::exception& e) {
    state.SkipWithError((kFailed + key + " train step: " + e.what()).c_str());
    return;
  }
  set_rates(state, w);
  state.SetLabel(m.label);
}

}  // namespace

void register_methods(Size size, Index dim) {
  for (const auto& info : methods()) {
    const std::string& key = info.key;
    const std::string lookup_name = bench_name(key, "lookup", size, dim);
    benchmark::RegisterBenchmark(lookup_name.c_str(), lookup, key, size, dim)->UseRealTime();
    add_entry({lookup_name, size, dim, key, "lookup"});
    const std::string train_name = bench_name(key, "train", size, dim);
    benchmark::RegisterBenchmark(train_name.c_str(), train, key, size, dim, "adam")
        ->UseRealTime();
    add_entry({train_name, size, dim, key, "train"});
    for (const char* optimizer : {"sgd", "rowwise_adagrad"}) {
      if (key != "full") break;
      const std::string op = std::string("train_") + optimizer;
      const std::string name = bench_name(key, op, size, dim);
      benchmark::RegisterBenchmark(name.c_str(), train, key, size, dim, optimizer)->UseRealTime();
      add_entry({name, size, dim, key, op});
    }
    if (info.serving_form.empty()) continue;
    const std::string serve_name = bench_name(key, "serve", size, dim);
    benchmark::RegisterBenchmark(serve_name.c_str(), serve, key, size, dim)->UseRealTime();
    add_entry({serve_name, size, dim, key, "serve"});
  }
}

}  // namespace embcomp::bench
