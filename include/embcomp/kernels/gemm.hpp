// Dense fp32 GEMM for the nn layers' small products (a batch of 64-4096 rows times weights of
// at most a few hundred columns): C [m x n] = (or +=) op(A) [m x k] * op(B) [k x n].
//
// Layouts: every matrix is row-major with a leading dimension (ld >= its stored columns); an
// operand marked `transposed` holds op(X)^T, i.e. op(X)(r, c) = data[c * ld + r].
//
// The fast path is an AVX2 + FMA kernel compiled for that target whatever the build flags are
// and chosen at run time (__builtin_cpu_supports): B is packed into panels of kPanel = 16
// columns ([k x 16], contiguous, zero-padded; a transposed B through 8 x 8 register
// transposes), and a 6 x 16 tile of C is accumulated in twelve ymm registers while A is read
// in place (one broadcast per element, either layout). Work items are B panels (or, when there
// are few, row tiles) taken dynamically by the OpenMP threads, so that a thread the OS has
// preempted does not hold back a static share; products below kParallelWork multiply-adds run
// on the calling thread (waking a second thread costs more than they take). Without AVX2/FMA,
// Eigen computes the product (its own GEMM and threading).
//
// The kernels are compiled once, in src/kernels/gemm.cpp: this header declares them, so that
// the files that multiply (the nn layers, the models, DHE, their tests) do not each parse the
// kernel and instantiate the Eigen fallback's eight products (3 s of compiling per file).
#pragma once

#include "embcomp/core/types.hpp"

namespace embcomp::kernels {

/// One GEMM operand: op(X)(r, c) = data[r * ld + c], or data[c * ld + r] when transposed.
struct GemmOperand {
  const float* data = nullptr;
  Index ld = 0;
  bool transposed = false;

  float at(Index r, Index c) const { return transposed ? data[c * ld + r] : data[r * ld + c]; }
};

/// Products of at least this many multiply-adds (m * n * k) are split across threads.
inline constexpr Index kParallelWork = Index{1} << 22;

/// C [m x n] (row-major, leading dimension ldc) = op(A) [m x k] * op(B) [k x n], or += with
/// `accumulate`. Call it outside parallel regions (it opens its own above kParallelWork).
void gemm(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
          bool accumulate = false);

/// gemm on the calling thread (no parallel region), e.g. one small product per sample inside
/// a parallel loop.
void gemm_serial(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
                 bool accumulate = false);

namespace gemm_detail {
/// The fallback without AVX2 + FMA: Eigen's product (declared for the tests).
void gemm_eigen(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
                bool accumulate);
}  // namespace gemm_detail

/// The plain triple loop (double accumulation), the reference the tests compare gemm with.
inline void gemm_reference(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c,
                           Index ldc, bool accumulate = false) {
  for (Index i = 0; i < m; ++i) {
    for (Index j = 0; j < n; ++j) {
      double sum = accumulate ? c[i * ldc + j] : 0.0;
      for (Index p = 0; p < k; ++p) sum += static_cast<double>(a.at(i, p)) * b.at(p, j);
      c[i * ldc + j] = static_cast<float>(sum);
    }
  }
}

}  // namespace embcomp::kernels
