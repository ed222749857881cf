#!/usr/bin/env bash
# Builds embcomp with warnings as errors and runs every test: unit, conformance, examples and
# packaging. Benchmarks are built (so that they keep compiling) and given a short smoke run.
#
#   scripts/test.sh [build-dir]      (default: build/ci)
#
# Environment: EMBCOMP_JOBS (build parallelism, default nproc), EMBCOMP_BENCH_SMOKE=0 skips the
# benchmark smoke run.
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

# Benchmark smoke run: every benchmark briefly, small tables only (EMBCOMP_BENCH_LARGE=0 skips
# the ~4 GiB sizes), a few seconds in all. It checks that they run, not how fast. Skipped when
# CTest already has a test labelled `benchmarks`.
bench="$build/benchmarks/embcomp_bench"
if [[ ${EMBCOMP_BENCH_SMOKE:-1} != 0 && -x $bench ]] &&
   (cd "$build" && ctest -N -L benchmarks | grep -q "Total Tests: 0"); then
  echo "benchmark smoke run: EMBCOMP_BENCH_LARGE=0 $bench --benchmark_min_time=0.01"
  if ! EMBCOMP_BENCH_LARGE=0 "$bench" --benchmark_min_time=0.01 >"$build/bench-smoke.log" 2>&1; then
    cat "$build/bench-smoke.log"
    echo "test.sh: the benchmark smoke run failed" >&2
    exit 1
  fi
  echo "benchmark smoke run passed (output in $build/bench-smoke.log)"
fi
echo "test.sh: all tests passed"
