// raw_gather/<size>/d<dim>: the machine's random row-gather rate, the yardstick of every
// lookup. A plain OpenMP loop copies rows of a plain std::vector<float> table with the same
// total rows and dim as the method tables, at the same global rows (offset_f + id) the
// benchmarks' id batches read. No software prefetch, no index arithmetic: just the copies.
// The vector is allocated like the library's tables (embcomp::assign_on_huge_pages: huge pages
// for large buffers unless EMBCOMP_HUGE_PAGES=0), so that the ratios compare code, not page
// sizes.
// It runs before and after the methods of each (size, dim) (.../after), and the summary compares
// with the mean of the two, so that a machine whose speed drifts during the run (other jobs on a
// shared machine) biases the ratios less.
#include <cstring>

#include "embcomp/core/huge_pages.hpp"
#include "harness.hpp"

namespace embcomp::bench {

namespace {

struct RawTable : Held {
  std::vector<float> values;
};

std::unique_ptr<Held> make_raw_table(const Workload& w) {
  auto raw = std::make_unique<RawTable>();
  const auto elements =
      static_cast<std::size_t>(w.schema.total_rows()) * static_cast<std::size_t>(w.schema.dim);
  assign_on_huge_pages(raw->values, elements, 0.0f);
  float* v = raw->values.data();
  const auto n = static_cast<std::int64_t>(elements);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i & 1023) * 1e-3f;
  return raw;
}

void raw_gather(benchmark::State& state, Size size, Index dim) {
  Workload& w = workload(size, dim);
  const auto& raw = static_cast<const RawTable&>(
      acquire(bench_name("raw_gather", "", size, dim), [&] { return make_raw_table(w); }));
  const float* table = raw.values.data();
  float* out = w.out.data();
  const Index n = w.lookups();
  const auto row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  std::size_t b = 0;
  for (auto _ : state) {
    const Index* rows = w.rows[b].data();
#pragma omp parallel for schedule(static)
    for (Index p = 0; p < n; ++p) std::memcpy(out + p * dim, table + rows[p] * dim, row_bytes);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
    b = b + 1 == w.batches() ? 0 : b + 1;
  }
  set_rates(state, w);
  state.SetLabel(huge_page_note({{table, raw.values.size() * sizeof(float)}}));
}

}  // namespace

void register_gather_baseline(Size size, Index dim, bool after) {
  const std::string name = bench_name("raw_gather", "", size, dim) + (after ? "/after" : "");
  benchmark::RegisterBenchmark(name.c_str(), raw_gather, size, dim)->UseRealTime();
  add_entry({name, size, dim, "raw_gather", "gather"});
}

}  // namespace embcomp::bench
