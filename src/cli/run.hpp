// One training run of the command line (shared by `train` and every cell of `sweep`): builds
// the table from a method spec and a ratio, the model, trains, and returns the summary that
// `train` prints and writes to DIR/summary.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "cli.hpp"
#include "data_options.hpp"

namespace embcomp::cli {

/// The model and training knobs. Defaults: the reference's (benchmark-protocol.md §2) except
/// the optimizer, Adam as in the authors' README recipe (with SGD at lr 1e-3 a tenth of an
/// epoch barely moves the model).
struct RunOptions {
  std::string model = "dlrm";
  Index dim = 16;
  Index batch = 128;
  std::string optimizer = "adam";
  double lr = 1e-3;
  double epochs = 0.1;
  Index evaluations = 10;  ///< per epoch
  Index patience = 10;
  Index max_eval_rows = 0;  ///< > 0: evaluate only the first rows of validation and test
  int threads = 0;          ///< 0: the OpenMP default
  int jobs = 1;             ///< runs trained side by side (the sweep's --jobs; train runs one)
  bool prefetch = true;     ///< read the next training batch on a thread of its own
  std::uint64_t seed = 123;
  std::string checkpoint;  ///< training checkpoint written after every evaluation
  std::string resume;      ///< training checkpoint to continue from
};

/// Adds the options above except checkpoint and resume (train adds those).
void add_run_options(CLI::App* command, RunOptions& options);

/// How much a run prints: each evaluation and a progress bar, or nothing.
enum class Verbosity { quiet, progress };

/// Trains `method` (a factory spec) at `ratio` on `data` and returns its summary (validation
/// and test metrics, samples/s, memory report, real ratio). With a non-empty `out`, writes
/// out/summary.json and out/metrics.jsonl. Throws InfeasibleBudget when the method cannot fit.
json run_training(const Data& data, const std::string& method, double ratio,
                  const RunOptions& options, const std::filesystem::path& out,
                  Verbosity verbosity);

/// Prints the end-of-run summary of run_training's result.
void print_summary(const json& summary);

/// Applies --threads (0 keeps the OpenMP default).
void set_threads(int threads);

}  // namespace embcomp::cli
