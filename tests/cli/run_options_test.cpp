// The run's flags (src/cli/run_options.hpp): --prefetch and --no-prefetch against the default,
// which prefetches only where the runs leave a core idle.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "run_options.hpp"

using namespace embcomp::cli;

namespace {

/// The RunOptions that `args` (after the command name) parse into, with `jobs` runs.
RunOptions parsed(std::vector<std::string> args, int jobs = 1) {
  CLI::App app;
  RunOptions o;
  o.jobs = jobs;
  add_run_options(&app, o);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
  app.parse(args);
  return o;
}

}  // namespace

TEST_CASE("run options: by default a run prefetches only where it leaves a core idle", "[cli]") {
  const RunOptions o = parsed({});
  CHECK(o.prefetch == RunOptions::Prefetch::automatic);
  CHECK(prefetch_for(o, 1, 2));       // train --threads 1 on 2 cores
  CHECK_FALSE(prefetch_for(o, 2, 2));  // train on every core
  CHECK(prefetch_for(o, 2, 4));
  CHECK_FALSE(prefetch_for(o, 4, 4));
  CHECK(prefetch_for(o, 0, 2));  // threads 0 counts as one
  CHECK_FALSE(prefetch_for(o, 1, 1));
  const RunOptions sweep = parsed({}, 2);
  CHECK_FALSE(prefetch_for(sweep, 1, 2));  // the default sweep: 2 runs of 1 thread on 2 cores
  CHECK(prefetch_for(sweep, 1, 4));
  CHECK_FALSE(prefetch_for(sweep, 2, 4));
}

TEST_CASE("run options: --prefetch and --no-prefetch decide whatever the cores", "[cli]") {
  const RunOptions on = parsed({"--prefetch"}, 2);
  CHECK(on.prefetch == RunOptions::Prefetch::on);
  CHECK(prefetch_for(on, 2, 1));
  const RunOptions off = parsed({"--no-prefetch"});
  CHECK(off.prefetch == RunOptions::Prefetch::off);
  CHECK_FALSE(prefetch_for(off, 1, 64));
  CHECK_THROWS_AS(parsed({"--prefetch", "--no-prefetch"}), CLI::ExcludesError);
}
