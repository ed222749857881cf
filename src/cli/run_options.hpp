// The knobs of one training run of the command line (shared by `train` and every cell of
// `sweep`) and their flags.
#pragma once

#include <cstdint>
#include <string>

#include "cli.hpp"
#include "embcomp/core/types.hpp"

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
  /// Read the next training batch on a thread of its own: on, off, or auto (on only where the
  /// run leaves a core idle for it, jobs x threads < cores; see prefetch_for).
  enum class Prefetch { automatic, on, off } prefetch = Prefetch::automatic;
  std::uint64_t seed = 123;
  std::string device = "cpu";  ///< where the steps run: cpu, or cuda (the CUDA backend's twins)
  std::string checkpoint;  ///< training checkpoint written after every evaluation
  std::string resume;      ///< training checkpoint to continue from
};

/// Adds the options above except checkpoint and resume (train adds those).
void add_run_options(CLI::App* command, RunOptions& options);

/// Whether a run with `options` and `threads` OpenMP threads prefetches: as --prefetch or
/// --no-prefetch say; by default only where options.jobs runs of `threads` threads leave one of
/// `cores` idle. With every core training, the reader thread has no core to overlap on: it
/// only takes turns with the training threads (the default sweep, 2 runs of 1 thread on 2
/// cores, took the same time either way: 833 s of cells with it, 838 s without).
bool prefetch_for(const RunOptions& options, int threads, int cores);

}  // namespace embcomp::cli
