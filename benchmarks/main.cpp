// embcomp_bench: Google Benchmark's main, plus a summary that Google Benchmark cannot compute
// itself: every result's rows/s against the raw gather of the same size and dim, measured in
// the same run.
//
//   embcomp_bench                                   everything (small and ~4 GiB tables)
//   EMBCOMP_BENCH_LARGE=0 embcomp_bench             the small (cache-resident) size only
//   embcomp_bench --benchmark_filter='^(raw_gather|full/lookup)/large/d64'
//   embcomp_bench --benchmark_format=json           JSON on stdout, the summary on stderr
//   embcomp_bench --benchmark_repetitions=5         the summary takes each benchmark's best
//
// Every Google Benchmark flag works as usual. Names: raw_gather/<size>/d<dim>[/after] (the
// baseline, run before and after the methods of each size and dim) and
// <method>/<lookup|train|serve>/<size>/d<dim>, where train is lookup + backward + Adam step
// and serve is a lookup of the method's own serving form (deeplight: sparse rows), after
// finalize; compare it with full/lookup of the same size in the same run.
// rows/s (items_per_second) counts lookups, B*F = 4096 x 26 per iteration; bytes/s counts the
// fp32 embeddings produced (lookups x dim x 4 B). Times are wall-clock (UseRealTime), since the
// work runs on EMBCOMP_BENCH_THREADS OpenMP threads (default 2).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using embcomp::bench::Entry;

/// Forwards everything to the display reporter chosen by --benchmark_format and keeps the
/// rows/s of each run for the summary.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit CollectingReporter(benchmark::BenchmarkReporter* inner) : inner_(inner) {}

  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) {
        errors_[run.run_name.function_name] = run.error_message;
        continue;
      }
      if (run.run_type != Run::RT_Iteration) continue;
      const auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      rates_[run.run_name.function_name].push_back(it->second.value);
      labels_[run.run_name.function_name] = run.report_label;
      const auto macs = run.counters.find("multiply_adds_per_second");
      if (macs != run.counters.end()) macs_[run.run_name.function_name].push_back(macs->second.value);
    }
    inner_->ReportRuns(runs);
  }

  void Finalize() override { inner_->Finalize(); }

  /// The best rate over repetitions (on a shared machine noise only ever slows a run down);
  /// 0 when the benchmark did not run.
  double rate(const std::string& name) const {
    const auto it = rates_.find(name);
    if (it == rates_.end() || it->second.empty()) return 0.0;
    return *std::max_element(it->second.begin(), it->second.end());
  }
  /// The best multiply-add rate of a compute-bound method's lookup; 0 for the others.
  double macs(const std::string& name) const {
    const auto it = macs_.find(name);
    if (it == macs_.end() || it->second.empty()) return 0.0;
    return *std::max_element(it->second.begin(), it->second.end());
  }
  std::string label(const std::string& name) const {
    const auto it = labels_.find(name);
    return it == labels_.end() ? "" : it->second;
  }
  /// Benchmarks that failed (an exception other than an infeasible budget).
  int failures() const {
    int n = 0;
    for (const auto& [name, message] : errors_) n += message.rfind(embcomp::bench::kFailed, 0) == 0;
    return n;
  }
  std::string error(const std::string& name) const {
    const auto it = errors_.find(name);
    return it == errors_.end() ? "" : it->second;
  }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::map<std::string, std::vector<double>> rates_;
  std::map<std::string, std::vector<double>> macs_;
  std::map<std::string, std::string> labels_;
  std::map<std::string, std::string> errors_;
};

void print_summary(const CollectingReporter& reporter, std::FILE* out) {
  using embcomp::bench::size_name;
  // "<size>/d<dim>" -> mean rows/s of the raw gather runs (before and after the methods).
  std::map<std::string, std::pair<double, int>> raw_runs;
  auto where = [](const Entry& e) {
    return std::string(size_name(e.size)) + "/d" + std::to_string(e.dim);
  };
  for (const Entry& e : embcomp::bench::entries()) {
    const double r = reporter.rate(e.name);
    if (e.method == "raw_gather" && r > 0.0) {
      raw_runs[where(e)].first += r;
      raw_runs[where(e)].second += 1;
    }
  }
  std::map<std::string, double> raw;
  for (const auto& [key, sum_count] : raw_runs) raw[key] = sum_count.first / sum_count.second;
  double gemm_peak = 0.0;  // the best gemm/... multiply-add rate of this run
  for (const Entry& e : embcomp::bench::entries()) {
    if (e.method == "gemm") gemm_peak = std::max(gemm_peak, reporter.rate(e.name));
  }
  std::fprintf(out,
               "\nSummary: rows/s = lookups/s (best of the repetitions); 'vs raw' = rows/s / "
               "raw_gather rows/s of the same size and dim in this run (the mean of its runs "
               "before and after the methods)\n");
  std::fprintf(out, "%-38s %12s %8s  %s\n", "benchmark", "rows/s", "vs raw", "notes");
  for (const Entry& e : embcomp::bench::entries()) {
    const double r = reporter.rate(e.name);
    const std::string error = reporter.error(e.name);
    if (r <= 0.0 && error.empty()) continue;  // filtered out
    if (r <= 0.0) {
      std::fprintf(out, "%-38s %12s %8s  %s\n", e.name.c_str(), "-", "-", error.c_str());
      continue;
    }
    const double base = raw.count(where(e)) != 0 ? raw[where(e)] : 0.0;
    char ratio[32] = "-";
    if (base > 0.0 && e.method != "gemm") std::snprintf(ratio, sizeof ratio, "%.3f", r / base);
    std::string notes = reporter.label(e.name);
    if (reporter.macs(e.name) > 0.0 && gemm_peak > 0.0) {
      char vs_gemm[96];
      std::snprintf(vs_gemm, sizeof vs_gemm, "; %.3g multiply-adds/s = %.3f of the gemm peak",
                    reporter.macs(e.name), reporter.macs(e.name) / gemm_peak);
      notes += vs_gemm;
    }
    if (e.method == "gemm") notes = "multiply-adds/s (rows/s column)";
    std::fprintf(out, "%-38s %12.4g %8s  %s\n", e.name.c_str(), r, ratio, notes.c_str());
  }
  std::fflush(out);
}

}  // namespace

int main(int argc, char** argv) {
  // Console output unless --benchmark_format asks for json or csv; the summary then goes to
  // stderr so that stdout stays machine-readable.
  bool console = true;
  for (int i = 1; i < argc; ++i) {
    const char* flag = "--benchmark_format=";
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
      console = std::strcmp(argv[i] + std::strlen(flag), "console") == 0;
    }
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const auto& config = embcomp::bench::config();
  omp_set_num_threads(config.threads);
  benchmark::AddCustomContext("embcomp_threads", std::to_string(config.threads));
  benchmark::AddCustomContext("embcomp_batch", "4096 x 26 lookups");

  using embcomp::bench::Size;
  std::vector<Size> sizes = {Size::small};
  if (config.large) sizes.push_back(Size::large);
  for (Size size : sizes) {
    for (embcomp::Index dim : {16, 64}) {
      const embcomp::Schema schema = embcomp::bench::make_schema(size, dim);
      benchmark::AddCustomContext(
          std::string("embcomp_") + embcomp::bench::size_name(size) + "_d" + std::to_string(dim),
          std::to_string(schema.total_rows()) + " rows, " +
              std::to_string(schema.full_bytes() / (1024.0 * 1024.0)) + " MiB fp32");
      // Raw gather first, then the methods: each (size, dim) is measured side by side.
      embcomp::bench::register_gather_baseline(size, dim, false);
      embcomp::bench::register_methods(size, dim);
      embcomp::bench::register_gather_baseline(size, dim, true);
    }
  }

  embcomp::bench::register_gemm();

  CollectingReporter reporter(benchmark::CreateDefaultDisplayReporter());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  embcomp::bench::release_held();
  print_summary(reporter, console ? stdout : stderr);
  benchmark::Shutdown();
  if (reporter.failures() > 0) {
    std::fprintf(stderr, "embcomp_bench: %d benchmark(s) failed\n", reporter.failures());
    return 1;
  }
  return 0;
}
