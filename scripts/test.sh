#!/usr/bin/env bash
# Builds embcomp with warnings as errors and runs every test: unit, conformance, examples and
# packaging, plus a short smoke run of the benchmarks (CTest label `benchmarks`).
#
#   scripts/test.sh [build-dir]      (default: build/ci)
#
# Environment: EMBCOMP_JOBS (build parallelism, default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/ci}
[[ $build = /* ]] || build="$root/$build"
jobs=${EMBCOMP_JOBS:-$(nproc)}

bash "$root/scripts/install-deps.sh"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBCOMP_WARNINGS_AS_ERRORS=ON \
  -DEMBCOMP_BUILD_TESTS=ON -DEMBCOMP_BUILD_EXAMPLES=ON -DEMBCOMP_BUILD_BENCHMARKS=ON
cmake --build "$build" -j"$jobs"

(cd "$build" && ctest --output-on-failure -j2)

echo "test.sh: all tests passed"
