#!/usr/bin/env bash
# Builds embcomp with warnings as errors and runs every test: unit, conformance, examples,
# packaging and the Python package's (pytest), plus a short smoke run of the benchmarks (CTest
# label `benchmarks`); then the suite under AddressSanitizer + UndefinedBehaviorSanitizer and
# the threaded code under ThreadSanitizer (scripts/sanitize.sh), and every fuzz target for a
# bounded time (scripts/fuzz.sh).
#
#   scripts/test.sh [build-dir]      (default: build/ci)
#
# Environment: EMBCOMP_JOBS (build parallelism, default nproc); EMBCOMP_FUZZ_SECONDS (the cap
# per fuzz target, default 90; 0 skips fuzzing; the run itself is a fixed number of inputs from
# EMBCOMP_FUZZ_SEED, default 1); EMBCOMP_SANITIZERS=0 skips the sanitizer builds (for a
# quick local run; CI runs everything).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/ci}
[[ $build = /* ]] || build="$root/$build"
jobs=${EMBCOMP_JOBS:-$(nproc)}

bash "$root/scripts/install-deps.sh"
source "$root/scripts/cmake-generator.sh"

# Where the CUDA toolkit is installed, the nvcc build of the CUDA backend is compiled too (warnings
# as errors), so a change that breaks it fails here; its tests run on a GPU and report themselves
# skipped without one. The host-mode tests of the same kernels run everywhere.
cuda_flags=()
nvcc=$(command -v nvcc || true)
[[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
if [[ -n $nvcc ]]; then
  # One architecture is enough to check that it compiles (EMBCOMP_CUDA_ARCHITECTURES to change).
  cuda_flags=(-DEMBCOMP_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc"
              -DCMAKE_CUDA_ARCHITECTURES="${EMBCOMP_CUDA_ARCHITECTURES:-90}")
  echo "test.sh: $nvcc found: the CUDA backend's nvcc build is compiled too"
fi

# The Python package (python/) is built and its pytest suite runs as a CTest test, with
# Debian's python3, for which install-deps.sh installed NumPy, pytest and pybind11 (another
# python3 earlier on the PATH, a pyenv one, would not have them).
python_flags=(-DEMBCOMP_BUILD_PYTHON=ON)
[[ -x /usr/bin/python3 ]] && python_flags+=(-DPython3_EXECUTABLE=/usr/bin/python3)

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBCOMP_WARNINGS_AS_ERRORS=ON \
  -DEMBCOMP_BUILD_TESTS=ON -DEMBCOMP_BUILD_EXAMPLES=ON -DEMBCOMP_BUILD_BENCHMARKS=ON \
  "${python_flags[@]}" "${cuda_flags[@]}"
cmake --build "$build" -j"$jobs"

# Where the real data samples are present, the tests that read them must run: a missing sample
# is then a failure, never a skip (tests/shared_data.hpp).
if [[ -d "$root/../shared/data" ]]; then
  export EMBCOMP_REQUIRE_SHARED_DATA=1
  echo "test.sh: $root/../shared/data is present; its tests must run"
fi
(cd "$build" && ctest --output-on-failure -j2)

if [[ ${EMBCOMP_SANITIZERS:-1} != 0 ]]; then
  bash "$root/scripts/sanitize.sh" all
fi
fuzz_seconds=${EMBCOMP_FUZZ_SECONDS:-90}
if [[ $fuzz_seconds != 0 ]]; then
  # The sanitizer build already compiled the library for the fuzz targets: reuse it.
  if [[ ${EMBCOMP_SANITIZERS:-1} != 0 ]]; then export EMBCOMP_FUZZ_BUILD="$root/build/asan"; fi
  # A fixed seed and input count: the same inputs every run (exploratory fuzzing is by hand).
  EMBCOMP_FUZZ_SEED=${EMBCOMP_FUZZ_SEED:-1} bash "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi

echo "test.sh: all tests passed"
