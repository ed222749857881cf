#!/usr/bin/env bash
# The checks that need a GPU, in one go (a few minutes): the CUDA backend's tests against the
# CPU tables, on the device; its benchmark (lookups and fused training steps against the device's
# raw random-row gather, 4 GiB tables); the trainer on the device against the trainer on the CPU
# (`embcomp train --device cuda`, the same run); and, where python3 has a CUDA-enabled PyTorch, the
# same lookup and step through PyTorch on the same GPU.
#
#   scripts/gpu-check.sh [build-dir]      (default build/cuda)
#
# It configures and builds build-dir with -DEMBCOMP_CUDA=ON first (installing the Debian
# packages the build needs), unless EMBCOMP_GPU_PREBUILT names a folder that already holds
# embcomp_cuda_tests, embcomp_cuda_bench and embcomp (built elsewhere for this GPU's architecture).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build/cuda}
[[ $build = /* ]] || build="$root/$build"

if [[ -n ${EMBCOMP_GPU_PREBUILT:-} ]]; then
  tests=$EMBCOMP_GPU_PREBUILT/embcomp_cuda_tests
  bench=$EMBCOMP_GPU_PREBUILT/embcomp_cuda_bench
  cli=$EMBCOMP_GPU_PREBUILT/embcomp
else
  bash "$root/scripts/install-deps.sh"
  source "$root/scripts/cmake-generator.sh"
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBCOMP_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DEMBCOMP_BUILD_TESTS=ON -DEMBCOMP_BUILD_BENCHMARKS=ON \
    -DEMBCOMP_BUILD_EXAMPLES=OFF -DEMBCOMP_BUILD_CLI=ON
  cmake --build "$build" -j"$(nproc)" --target embcomp_cuda_tests embcomp_cuda_bench embcomp_cli
  tests=$build/tests/cuda/embcomp_cuda_tests
  bench=$build/benchmarks/embcomp_cuda_bench
  cli=$build/embcomp
fi

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true

status=0
echo "== CUDA tables against the CPU tables, on the device"
"$tests" --durations yes || status=1

echo "== benchmark: lookups and fused steps against the raw gather"
"$bench" || status=1

echo "== the trainer: the same DLRM run on the CPU and on the device (AUC, samples/s)"
if [[ -x $cli ]]; then
  for device in cpu cuda; do
    "$cli" train --method hash --ratio 10 --model dlrm --epochs 0.1 --batch 2048 --lr 0.01 \
      --device "$device" --out "$build/gpu-check-train-$device" | tail -6 || status=1
  done
else
  echo "skipped: no embcomp command line at $cli"
fi

echo "== PyTorch on the same GPU (nn.Embedding lookup; sparse SGD and SparseAdam steps)"
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  python3 "$root/benchmarks/cuda/torch_peer.py" || status=1
else
  echo "skipped: python3 has no CUDA-enabled torch"
fi
echo "== the tests under compute-sanitizer (memcheck), where it can run"
if command -v compute-sanitizer > /dev/null; then
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 3 "$tests" || status=1
else
  echo "skipped: no compute-sanitizer"
fi
if [[ $status != 0 ]]; then
  echo "gpu-check.sh: FAILED (see above)"
  exit 1
fi
echo "gpu-check.sh: all passed"
