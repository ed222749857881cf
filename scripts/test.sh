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

# Where the real data samples are present, the tests that read them must run: a missing sample
# is then a failure, never a skip (tests/shared_data.hpp).
if [[ -d "$root/../shared/data" ]]; then
  export EMBCOMP_REQUIRE_SHARED_DATA=1
  echo "test.sh: $root/../shared/data is present; its tests must run"
fi
(cd "$build" && ctest --output-on-failure -j2)

echo "test.sh: all tests passed"
