#include "run_options.hpp"

#include <algorithm>

namespace embcomp::cli {

void add_run_options(CLI::App* command, RunOptions& o) {
  command->add_option("--dim", o.dim, "embedding dimension")
      ->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--batch", o.batch, "batch size")
      ->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--optimizer", o.optimizer, "optimizer (the reference's default is sgd)")
      ->capture_default_str()->check(CLI::IsMember({"sgd", "adagrad", "adam", "rowwise_adagrad"}));
  command->add_option("--lr", o.lr, "learning rate")
      ->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--epochs", o.epochs, "epochs (fractions allowed)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--evals-per-epoch", o.evaluations, "validation evaluations per epoch")
      ->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--patience", o.patience, "evaluations without improvement (0: never stop)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--max-eval-rows", o.max_eval_rows,
                      "evaluate only the first rows of validation and test (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--threads", o.threads, "OpenMP threads (0: the OpenMP default)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--seed", o.seed, "seed of the table and the model")->capture_default_str();
  command->add_option("--device", o.device,
                      "where the training steps and validation run: cpu, or cuda (the device "
                      "twins of the table and model; a build with -DEMBCOMP_CUDA=ON)")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  using Prefetch = RunOptions::Prefetch;
  CLI::Option* on = command->add_flag_callback(
      "--prefetch", [&o] { o.prefetch = Prefetch::on; },
      "read the next training batch on a thread of its own while a step trains (default: only "
      "where the run leaves a core idle; the results are the same either way)");
  command->add_flag_callback(
      "--no-prefetch", [&o] { o.prefetch = Prefetch::off; },
      "read each training batch in place, on the training thread")
      ->excludes(on);
}

bool prefetch_for(const RunOptions& o, int threads, int cores) {
  switch (o.prefetch) {
    case RunOptions::Prefetch::on: return true;
    case RunOptions::Prefetch::off: return false;
    case RunOptions::Prefetch::automatic: break;
  }
  return std::max(o.jobs, 1) * std::max(threads, 1) < cores;
}

}  // namespace embcomp::cli
