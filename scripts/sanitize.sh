#!/usr/bin/env bash
# The test suite under sanitizers (scripts/test.sh runs both):
#
#   scripts/sanitize.sh asan   every C++ test, the CLI smoke and unit tests and the crash test under
#                              AddressSanitizer + UndefinedBehaviorSanitizer (clang, preset
#                              asan, build/asan, which also holds the fuzz targets that
#                              scripts/fuzz.sh runs); the first report fails the run
#   scripts/sanitize.sh tsan   the tests of the threaded code (kernels, RowGroups, GEMM,
#                              optimizers, the HotSketch, parameters, nn, the batch prefetcher)
#                              and the conformance checks of every method under ThreadSanitizer
#                              (clang with libomp and its Archer tool, preset tsan, build/tsan)
#   scripts/sanitize.sh        both
#
# Environment: EMBCOMP_JOBS (build parallelism, default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${EMBCOMP_JOBS:-$(nproc)}
what=${1:-all}
source "$root/scripts/cmake-generator.sh"

# Tests of model quality (AUC after training): the release build runs them (scripts/test.sh).
quality_tests='^conformance: training beats the trivial AUC on a planted task$|on the Criteo sample$'

run_asan() {
  cmake --preset asan > /dev/null
  cmake --build --preset asan -j"$jobs" --target embcomp_tests embcomp_cli embcomp_cli_tests \
    embcomp_cuda_host_tests
  # The packaging test installs and rebuilds the library (no sanitizer code to find there).
  # Tests of what training learns (quality_tests) ran in the release build: here they would
  # repeat the same code paths, already driven by the conformance and method tests, ten times
  # slower.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan -E "^packaging|$quality_tests" --timeout 900
  echo "sanitize.sh: ASan+UBSan clean"
}

run_tsan() {
  archer=$(clang++ -print-file-name=libarcher.so)
  [[ -f $archer ]] || archer=/usr/lib/llvm-14/lib/libarcher.so
  cmake --preset tsan > /dev/null
  cmake --build --preset tsan -j"$jobs" --target embcomp_tsan_tests
  # Archer tells TSan about OpenMP's barriers and tasks; libomp itself is not instrumented, so
  # its internal locks are left out of the reports (ignore_noninstrumented_modules, as Archer
  # asks).
  OMP_TOOL_LIBRARIES=$archer OMP_NUM_THREADS=2 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1" \
    build/tsan/tests/embcomp_tsan_tests "~conformance: training beats the trivial AUC on a planted task"
  echo "sanitize.sh: TSan clean"
}

case $what in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "usage: scripts/sanitize.sh [asan|tsan|all]" >&2; exit 2 ;;
esac
