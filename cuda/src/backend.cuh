// What the backend's kernels are written against, for both builds: under nvcc the CUDA runtime,
// in host mode the shim (cuda/shim/host_shim.hpp). Kernels are EMBCOMP_KERNEL functions with a
// grid-stride loop over a flat thread index, launched by launch(threads, kernel, args...).
#pragma once

#include <algorithm>
#include <cstring>

#include "embcomp/core/types.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define EMBCOMP_KERNEL __global__
#define EMBCOMP_DEVICE __device__ __forceinline__
#else
#include "../shim/host_shim.hpp"
#define EMBCOMP_KERNEL
#define EMBCOMP_DEVICE inline
#endif

namespace embcomp::cuda::detail {

#if !defined(__CUDACC__)
using shim::atomicAdd;
using shim::atomicAnd;
using shim::atomicMin;
using shim::atomicOr;
using shim::blockDim;
using shim::blockIdx;
using shim::float4;
using shim::gridDim;
using shim::threadIdx;
#endif

inline constexpr unsigned kBlock = 256;
inline constexpr Index kMaxGrid = 132 * 32;  // enough blocks to fill an H200; loops cover the rest

#if defined(__CUDACC__)
/// Throws embcomp::Error naming `what` unless `status` is cudaSuccess.
void check_cuda(cudaError_t status, const char* what);
#endif

/// Runs `kernel` on enough threads for `threads` work items (at most kMaxGrid blocks; kernels
/// loop with thread_index() / thread_count()).
template <class Kernel, class... Args>
void launch(Index threads, Kernel kernel, Args... args) {
  if (threads <= 0) return;
  const auto grid =
      static_cast<unsigned>(std::min<Index>((threads + kBlock - 1) / kBlock, kMaxGrid));
#if defined(__CUDACC__)
  kernel<<<grid, kBlock>>>(args...);
  check_cuda(cudaGetLastError(), "kernel launch");
#else
  shim::launch(grid, kBlock, kernel, args...);
#endif
}

EMBCOMP_DEVICE Index thread_index() {
  return static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) +
         static_cast<Index>(threadIdx.x);
}
EMBCOMP_DEVICE Index thread_count() {
  return static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
}

EMBCOMP_DEVICE bool is_finite(float x) {
#if defined(__CUDACC__)
  return ::isfinite(x);
#else
  return std::isfinite(x);
#endif
}

/// dst[0..V) = src[0..V) for V = 1 or 4 (16-byte aligned then: one vector load and store).
template <int V>
EMBCOMP_DEVICE void copy_floats(const float* src, float* dst) {
  if constexpr (V == 4) {
#if defined(__CUDACC__)
    *reinterpret_cast<float4*>(dst) = __ldg(reinterpret_cast<const float4*>(src));
#else
    std::memcpy(dst, src, 4 * sizeof(float));
#endif
  } else {
    for (int i = 0; i < V; ++i) dst[i] = src[i];
  }
}

}  // namespace embcomp::cuda::detail
