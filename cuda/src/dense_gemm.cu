// detail::gemm (dense_gemm.hpp): cuBLAS under nvcc, kernels::gemm in host mode.
#include "dense_gemm.hpp"

#include <string>

#include "embcomp/core/error.hpp"

#if defined(__CUDACC__)
#include <cublas_v2.h>
#else
#include "embcomp/kernels/gemm.hpp"
#endif

namespace embcomp::cuda::detail {

#if defined(__CUDACC__)
namespace {

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(std::string("cuda: cuBLAS ") + what + " failed: " + cublasGetStatusString(status));
  }
}

/// The process's cuBLAS handle, on the default stream, with fp32 arithmetic (no TF32: the
/// products must agree with the CPU's to fp32 rounding).
cublasHandle_t handle() {
  static const cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    check_cublas(cublasCreate(&created), "create");
    check_cublas(cublasSetMathMode(created, CUBLAS_PEDANTIC_MATH), "set math mode");
    return created;
  }();
  return h;
}

}  // namespace

void gemm(Index m, Index n, Index k, DeviceOperand a, DeviceOperand b, float* c, Index ldc,
          bool accumulate) {
  if (m == 0 || n == 0) return;
  const float one = 1.0f;
  const float beta = accumulate ? 1.0f : 0.0f;
  // Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ, and a row-major operand read
  // column-major is its transpose: so B goes first, each with its own transposition flag.
  check_cublas(
      cublasSgemm(handle(), b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N,
                  a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                  static_cast<int>(m), static_cast<int>(k), &one, b.data, static_cast<int>(b.ld),
                  a.data, static_cast<int>(a.ld), &beta, c, static_cast<int>(ldc)),
      "sgemm");
}

#else

void gemm(Index m, Index n, Index k, DeviceOperand a, DeviceOperand b, float* c, Index ldc,
          bool accumulate) {
  kernels::gemm(m, n, k, {a.data, a.ld, a.transposed}, {b.data, b.ld, b.transposed}, c, ldc,
                accumulate);
}

#endif

}  // namespace embcomp::cuda::detail
