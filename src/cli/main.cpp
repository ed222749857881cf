// embcomp: the command line.
//   embcomp train    trains one model with one compressed table (synthetic data or files)
//   embcomp sweep    methods x ratios (x models) -> CSV, JSON, Markdown table and a plot
//   embcomp prep     text files -> binary cache with vocabularies and frequency counts
//   embcomp info     a checkpoint's metadata and memory report
//   embcomp methods  the registered methods, their options and reachable ratios
// Exit codes: 0 success, 1 a runtime error, 2 bad arguments or an infeasible budget (CLI11's
// own parse errors keep CLI11's codes).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#include "cli.hpp"
#include "embcomp/core/error.hpp"

namespace {

/// Makes idle OpenMP threads sleep instead of spin unless the user chose a policy. libgomp
/// reads OMP_WAIT_POLICY once, when it loads, so the command runs itself again with it set.
/// A training step runs ~10 short parallel regions; spinning threads steal the cores the
/// working ones need whenever anything else runs on the machine (measured at 2 threads under
/// load: ~1,200 samples/s spinning, ~9,400 sleeping).
void default_to_passive_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 0);
  ::execv("/proc/self/exe", argv);  // returns only on failure: go on spinning
}

}  // namespace

int main(int argc, char** argv) {
  using namespace embcomp;
  default_to_passive_waiting(argv);
  CLI::App app{"embcomp: learnable embedding-table compression for recommendation models"};
  app.require_subcommand(1);
  const std::vector<cli::Command> commands = {
      cli::add_train_command(app), cli::add_sweep_command(app), cli::add_prep_command(app),
      cli::add_info_command(app), cli::add_methods_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    for (const cli::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return 2;
  } catch (const InfeasibleBudget& e) {
    std::fprintf(stderr, "embcomp: %s\n", e.what());
    return 2;
  } catch (const InvalidArgument& e) {
    std::fprintf(stderr, "embcomp: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embcomp: %s\n", e.what());
    return 1;
  }
}
