// embcomp sweep: the compression benchmark suite. Trains every (model, method, ratio) cell of a
// grid on one dataset and writes, into --out:
//   results.csv, results.json   one record per cell (infeasible and failed cells included)
//   results.md                  per model: test AUC by method x ratio, then every record
//   test_auc_<model>.png        test AUC against the real compression ratio, one line per
//                               method (log-scale ratio), rendered by gnuplot from the .dat and
//                               .gp files next to it
//   runs/<cell>/                summary.json and metrics.jsonl of each trained cell
// `full` runs once per model, at 1x (the baseline); every other method at every ratio. The
// files are rewritten after each cell, so an interrupted sweep leaves what it finished, and
// --keep-done skips the cells whose summary.json is already there. A method may list
// alternative option values ("cafe:hash_share=auto/0.5/0.7"): each variant is trained and the
// cell keeps the one with the best validation AUC (runs/<cell>/v<i>/ hold them all).
//
// --jobs J trains J cells side by side, each on its own thread with its own OpenMP threads
// (default: 2 runs of half the cores each where there are 2 cores or more). On this project's
// 2-core machines two 1-thread runs train 1.55x the cells per second of one 2-thread run (DLRM
// at the suite's batch of 128 uses 2 threads poorly); results do not depend on the thread
// count, so --jobs changes only the timing columns.
//
// This file runs the cells; sweep_grid.hpp says which cells, sweep_report.hpp what is written
// of them, sweep_plot.hpp how they are drawn.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "cli.hpp"
#include "data_options.hpp"
#include "device.hpp"
#include "embcomp/registry.hpp"
#include "run.hpp"
#include "sweep_grid.hpp"
#include "sweep_plot.hpp"
#include "sweep_report.hpp"

namespace embcomp::cli {

namespace {

/// Everything `embcomp sweep` takes on the command line.
struct SweepOptions {
  DataOptions data;
  RunOptions run;
  SweepGrid grid;
  std::string out = "embcomp-sweep";
  bool plot = true;
  bool keep_done = false;
};

/// A cell whose method reaches at least (1 - kNearMiss) x its ratio runs at the method's limit.
constexpr double kNearMiss = 0.01;

/// Trains `spec` for `cell` into `directory` (or reads it back with --keep-done); infeasible and
/// diverged runs become records too.
json run_spec(const SweepOptions& o, const Data& data, const Cell& cell, const std::string& spec,
              const std::filesystem::path& directory, const std::string& relative) {
  if (o.keep_done && std::filesystem::exists(directory / "summary.json")) {
    std::ifstream file(directory / "summary.json");
    return trained_record(cell, json::parse(file), relative);
  }
  RunOptions run = o.run;
  run.model = cell.model;
  auto train_at = [&](double ratio) {
    return trained_record(cell, run_training(data, spec, ratio, run, directory, Verbosity::quiet),
                          relative);
  };
  try {
    double limit = 0.0;
    try {
      return train_at(cell.ratio);
    } catch (const InfeasibleBudget& e) {
      // A fixed-ratio method just short of the cell's ratio (int16's 8-byte scale pair makes
      // it 1.99999x), or one that reaches none of the grid's ratios (int8 at 4x against a
      // smallest ratio of 10x), runs at its own highest ratio rather than vanishing from the
      // table.
      const bool near_miss = e.limit_ratio() >= cell.ratio * (1.0 - kNearMiss);
      if (!(near_miss || (cell.smallest && e.limit_ratio() >= 1.0))) throw;
      limit = e.limit_ratio();
    }
    json record = train_at(limit);
    record["note"] = "ran at its highest ratio, " + limit_text(limit);
    record["limit_ratio"] = limit;
    return record;
  } catch (const InfeasibleBudget& e) {
    return infeasible_record(cell, e.limit_ratio());
  } catch (const NonFiniteGradient& e) {
    return record_of(cell, "diverged", e.what());
  }
}

/// One cell. A method entry with alternatives ("hash_share=0.5/0.7") trains every variant and
/// keeps the one with the best validation AUC: the choice never sees test.
json run_cell(const SweepOptions& o, const Data& data, const Cell& cell,
              const std::filesystem::path& out) {
  if (cell.skipped)
    return record_of(cell, "skipped", "slow: not in the default grid; --full-grid runs it");
  const std::filesystem::path directory = out / "runs" / cell_name(cell);
  const std::string relative = "runs/" + cell_name(cell);
  const std::vector<std::string> specs = expand_alternatives(cell.method);
  if (specs.size() == 1) return run_spec(o, data, cell, specs[0], directory, relative);

  std::optional<json> best, unfit;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::string variant = "v" + std::to_string(i);
    json record = run_spec(o, data, cell, specs[i], directory / variant, relative + "/" + variant);
    if (record["status"] != "ok") {
      if (!unfit) unfit = std::move(record);
      continue;
    }
    if (!best || record["validation_auc"].get<double>() > (*best)["validation_auc"].get<double>()) {
      best = std::move(record);
    }
  }
  if (!best) return *unfit;
  (*best)["note"] = "chosen on validation among " + std::to_string(specs.size()) +
                    " variants: " + (*best)["spec"].get<std::string>();
  return *best;
}

/// Prints `r`, the `index`-th record of `total`, as one progress line.
void print_record(std::size_t index, std::size_t total, const json& r) {
  std::printf("[%zu/%zu] %-5s %-12s %8s  ", index, total, r["model"].get<std::string>().c_str(),
              r["method"].get<std::string>().c_str(),
              ratio_text(r["requested_ratio"].get<double>()).c_str());
  if (r["status"] == "ok") {
    std::printf("test auc %.4f  logloss %.4f  real %s  %.0f samples/s  %.1f s\n",
                r["test_auc"].get<double>(), r["test_logloss"].get<double>(),
                ratio_text(r["ratio"].get<double>()).c_str(), r["samples_per_second"].get<double>(),
                r["train_seconds"].get<double>());
  } else {
    std::printf("%s %s\n", r["status"].get<std::string>().c_str(),
                r["note"].get<std::string>().c_str());
  }
  std::fflush(stdout);
}

/// The record of `cell`. `limits` holds the highest ratio each "model/method" reaches, once a
/// cell found it: a larger ratio is then infeasible without training (dedup learns its limit
/// only after its first stage); a trained cell that finds a limit adds it.
json record_for(const SweepOptions& o, const Data& data, const Cell& cell,
                const std::filesystem::path& out, std::map<std::string, double>& limits) {
  const std::string group = cell.model + '/' + cell.method;
  const auto known = limits.find(group);
  if (known != limits.end() && known->second < cell.ratio * (1.0 - kNearMiss)) {
    json record = infeasible_record(cell, known->second);
    record["limit_known"] = true;  // from a smaller ratio: not trained again
    return record;
  }
  json record = run_cell(o, data, cell, out);
  if (record.contains("limit_ratio")) limits[group] = record["limit_ratio"].get<double>();
  return record;
}

/// The cells of each model and method, in grid order, each group in grid order: a group runs in
/// order on one job, since a smaller ratio's limit decides the larger ones (record_for).
std::vector<std::vector<std::size_t>> groups_of(const std::vector<Cell>& cells) {
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::string, std::size_t> group_of;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const std::string key = cells[i].model + '/' + cells[i].method;
    const auto [at, added] = group_of.try_emplace(key, groups.size());
    if (added) groups.emplace_back();
    groups[at->second].push_back(i);
  }
  return groups;
}

/// The records of a sweep's cells as they finish (from any job): each is printed and the
/// results files are rewritten with every finished record, in grid order.
class FinishedRecords {
 public:
  FinishedRecords(const SweepOptions& o, const json& data, std::size_t cells)
      : o_(o), data_(data), records_(cells) {}

  void add(std::size_t cell, json record) {
    const std::lock_guard<std::mutex> lock(mutex_);
    records_[cell] = std::move(record);
    print_record(++finished_, records_.size(), *records_[cell]);
    write_results(o_.grid, o_.run, o_.out, data_, in_grid_order());
  }

  /// Every finished record, in grid order.
  json in_grid_order() const {
    json all = json::array();
    for (const std::optional<json>& r : records_) {
      if (r) all.push_back(*r);
    }
    return all;
  }

 private:
  const SweepOptions& o_;
  const json& data_;
  std::mutex mutex_;
  std::vector<std::optional<json>> records_;
  std::size_t finished_ = 0;
};

/// Trains every cell, o.run.jobs groups side by side, each job with o.run.threads OpenMP
/// threads (0: the OpenMP default). The first error stops every job after its current cell and
/// is rethrown here.
void run_cells(const SweepOptions& o, const Data& data, const std::vector<Cell>& cells,
               const std::vector<std::vector<std::size_t>>& groups, FinishedRecords& finished) {
  std::atomic<std::size_t> next_group{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto job = [&] {
    if (o.run.threads > 0) omp_set_num_threads(o.run.threads);  // per thread in OpenMP
    try {
      for (std::size_t g = next_group++; g < groups.size() && !stop; g = next_group++) {
        std::map<std::string, double> limits;
        for (std::size_t i : groups[g]) {
          if (stop) return;
          finished.add(i, record_for(o, data, cells[i], o.out, limits));
        }
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      stop = true;
    }
  };
  if (o.run.jobs <= 1) {
    job();
  } else {
    std::vector<std::jthread> pool;
    for (int j = 0; j < o.run.jobs; ++j) pool.emplace_back(job);
  }  // the jthreads join here
  if (error) std::rethrow_exception(error);
}

/// --jobs and --threads resolved for `groups` groups of cells: jobs 0 is 2 where there are 2
/// cores or more, and never more jobs than groups; with several jobs and no --threads, each
/// takes an equal share of the cores.
void resolve_jobs(RunOptions& run, std::size_t groups) {
  const int cores = std::max(1, omp_get_num_procs());
  if (run.jobs <= 0) run.jobs = std::min(2, cores);
  run.jobs = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(run.jobs), std::max<std::size_t>(groups, 1)));
  if (run.jobs > 1 && run.threads <= 0) run.threads = std::max(1, cores / run.jobs);
}

/// Writes and renders the plot of every model of the grid, and prints where each PNG went.
void plot_models(const SweepOptions& o, const std::filesystem::path& out, const json& data,
                 const json& records) {
  for (const std::string& model : o.grid.models) {
    const std::string png = plot_model(out, model, data, records);
    if (!png.empty()) std::printf("sweep: plot %s\n", png.c_str());
  }
}

/// Runs the sweep `o` describes; returns the exit code (0: every cell has its record).
int run_sweep(SweepOptions o) {
  for (const std::string& method : o.grid.methods) method_info(method_key(method));  // fail early
  const std::vector<Cell> cells = expand_grid(o.grid);
  const std::vector<std::vector<std::size_t>> groups = groups_of(cells);
  resolve_jobs(o.run, groups.size());
  set_threads(o.run.threads);
  backend_for(o.run.device);  // a device this build cannot use is refused before any cell runs
  const std::filesystem::path out(o.out);
  std::filesystem::create_directories(out);
  const Data data = open_data(o.data);
  std::printf("sweep: %zu runs on %s data into %s", cells.size(), data.name.c_str(),
              o.out.c_str());
  if (o.run.jobs > 1) {
    std::printf(", %d side by side with %d thread(s) each", o.run.jobs, o.run.threads);
  }
  std::printf("\n");
  if (data.bayes) std::printf("sweep: Bayes-optimal test AUC %.4f\n", data.bayes->auc);
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  FinishedRecords finished(o, data.description, cells.size());
  run_cells(o, data, cells, groups, finished);
  const json records = finished.in_grid_order();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf("\n%s", markdown_of(o.grid, o.run, data.description, records).c_str());
  if (o.plot) plot_models(o, out, data.description, records);
  std::printf("sweep: %zu runs in %.0f s; wrote %s/results.{csv,json,md}\n", cells.size(), seconds,
              o.out.c_str());
  return 0;
}

}  // namespace

Command add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  // The suite's default: a tenth of Criteo's ids, enough data for every method to learn.
  o->data.scale = 0.01;
  o->data.train_rows = 200'000;
  o->data.validation_rows = 20'000;
  o->data.test_rows = 20'000;
  o->run.epochs = 1.0;
  o->run.evaluations = 4;
  o->run.patience = 2;
  CLI::App* sweep = app.add_subcommand(
      "sweep", "train every method at every ratio (and model): table, CSV, JSON and a plot");
  add_data_options(sweep, o->data);
  sweep->add_option("--methods", o->grid.methods,
                    "methods or factory specs (default: every method); a/b/c values of an "
                    "option are alternatives, chosen per cell on validation AUC");
  sweep->add_option("--ratios", o->grid.ratios, "compression ratios")
      ->capture_default_str()
      ->check(finite_ratio())
      ->delimiter(',');
  sweep->add_option("--models", o->grid.models, "CTR models")
      ->capture_default_str()
      ->check(CLI::IsMember({"dlrm", "wdl", "dcn"}))
      ->delimiter(',');
  add_run_options(sweep, o->run);
  o->run.jobs = 0;
  sweep->add_option("--jobs", o->run.jobs,
                    "runs trained side by side (0: 2 where there are 2 cores or more), each "
                    "with --threads threads (0: an equal share of the cores); 1 runs one at a "
                    "time with every thread")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  sweep->add_option("--out", o->out, "output directory")->capture_default_str();
  sweep->add_flag("!--no-plot", o->plot, "skip the gnuplot rendering");
  sweep->add_flag("--keep-done", o->keep_done, "reuse cells whose summary.json exists in --out");
  sweep->add_flag("--full-grid", o->grid.full_grid,
                  "2x as well (unless --ratios is given), and the slow cells the default grid "
                  "skips (dhe at 2x and 10x, optembed at all but 100x)");
  return {sweep, [o] { return run_sweep(*o); }};
}

}  // namespace embcomp::cli
