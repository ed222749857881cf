#!/usr/bin/env bash
# The main job: the compression benchmark suite with its defaults. Builds the `embcomp` command
# (Release) and runs `embcomp sweep`: every registered method at 2x, 10x, 100x, 1000x and
# 10000x (full once at 1x) as DLRM's embedding layer on the built-in synthetic Criteo-like data,
# trained, chosen on validation and scored once on test. Leaves results.{md,csv,json}, the plot
# test_auc_dlrm.png and each run's summary in the output folder (default: embcomp-sweep/).
#
#   scripts/sweep.sh [options of `embcomp sweep`]
#   e.g. scripts/sweep.sh --methods hash qr cafe --ratios 10,1000 --models dlrm,dcn --out my-sweep
#
# Environment: EMBCOMP_BUILD (build dir, default build/default), EMBCOMP_JOBS (default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EMBCOMP_BUILD:-$root/build/default}
jobs=${EMBCOMP_JOBS:-$(nproc)}

bash "$root/scripts/install-deps.sh"
source "$root/scripts/cmake-generator.sh"

echo "sweep: building embcomp (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$jobs" --target embcomp_cli >/dev/null
echo

# Idle OpenMP threads sleep instead of spinning between the many small parallel regions of a
# training step (spinning threads steal the cores the other thread needs on small machines).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
exec "$build/embcomp" sweep "$@"
