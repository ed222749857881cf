// One training run of the command line (shared by `train` and every cell of `sweep`): builds
// the table from a method spec and a ratio, the model, trains, and returns the summary that
// `train` prints and writes to DIR/summary.json.
#pragma once

#include <filesystem>
#include <string>

#include "cli.hpp"
#include "data_options.hpp"
#include "run_options.hpp"

namespace embcomp::cli {

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
