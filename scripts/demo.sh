#!/usr/bin/env bash
# A quick tour (the main job is scripts/sweep.sh): builds embcomp (Release) and trains every
# registered method on the planted synthetic click task at ratios 1, 2, 10, 100 and 1000, then
# prints one table: method, requested ratio, real ratio, serving bytes, held-out AUC, logloss.
#
#   scripts/demo.sh [options of examples/00_compare_methods.cpp]
#   e.g. scripts/demo.sh --ratios 10,100 --method hash --method qr:op=add
#
# Environment: EMBCOMP_DEMO_BUILD (build dir, default build/default), EMBCOMP_JOBS (default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EMBCOMP_DEMO_BUILD:-$root/build/default}
jobs=${EMBCOMP_JOBS:-$(nproc)}

bash "$root/scripts/install-deps.sh"
source "$root/scripts/cmake-generator.sh"

echo "demo: building example_00_compare_methods (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBCOMP_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j"$jobs" --target example_00_compare_methods >/dev/null
echo

"$build/examples/example_00_compare_methods" "$@"
