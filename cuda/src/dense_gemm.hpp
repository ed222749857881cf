// The dense model's matrix products on the device: row-major GEMM over device memory, through
// cuBLAS under nvcc and, in host mode, through the CPU's kernels::gemm (the shim's model of
// cuBLAS: the tests then check everything around the products, whose order cuBLAS chooses).
#pragma once

#include "embcomp/core/types.hpp"

namespace embcomp::cuda::detail {

/// One operand: op(X)(r, c) = data[r * ld + c], or data[c * ld + r] when transposed (device
/// memory, row-major, as kernels::GemmOperand).
struct DeviceOperand {
  const float* data = nullptr;
  Index ld = 0;
  bool transposed = false;
};

/// C [m x n] (row-major, leading dimension ldc) = op(A) [m x k] * op(B) [k x n], or += with
/// `accumulate`; asynchronous on the default stream, ordered with the kernels.
void gemm(Index m, Index n, Index k, DeviceOperand a, DeviceOperand b, float* c, Index ldc,
          bool accumulate = false);

}  // namespace embcomp::cuda::detail
