// The host shim: just enough of CUDA's execution model for the backend's kernels to compile as
// plain C++ and run on a CPU, so that CI (which has no GPU) tests the same kernel source against
// the CPU tables (the technique of CERN's Allen CPU backend).
//
// What it models: a 1-D grid of 1-D blocks, threadIdx/blockIdx/blockDim/gridDim, float4, and
// the atomics the kernels use. Threads run one after another, blocks in reverse order and the
// threads of a block in a strided permutation, so a kernel that depends on thread order (a
// race) is likely to give another result here than on the GPU, and the comparison tests fail.
// What it does not model: block barriers and shared memory; the kernels use neither.
#pragma once

#include <cmath>
#include <cstring>

namespace embcomp::cuda::shim {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

inline thread_local Dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) float4 {
  float x, y, z, w;
};

/// Runs kernel(args...) for every thread of `grid` blocks of `block` threads, one at a time.
template <class Kernel, class... Args>
void launch(unsigned grid, unsigned block, Kernel kernel, Args... args) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  // An odd stride is coprime with a power-of-two block: t -> t * stride mod block visits every
  // thread once, in an order far from 0, 1, 2, ...
  const unsigned stride = 97;
  for (unsigned b = grid; b-- > 0;) {
    blockIdx = {b, 0, 0};
    for (unsigned t = 0; t < block; ++t) {
      threadIdx = {(t * stride) % block, 0, 0};
      kernel(args...);
    }
  }
}

inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
  const unsigned long long old = *address;
  if (value < old) *address = value;
  return old;
}

inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  const unsigned long long old = *address;
  *address = old + value;
  return old;
}

inline unsigned long long atomicAnd(unsigned long long* address, unsigned long long value) {
  const unsigned long long old = *address;
  *address = old & value;
  return old;
}

inline unsigned long long atomicOr(unsigned long long* address, unsigned long long value) {
  const unsigned long long old = *address;
  *address = old | value;
  return old;
}

}  // namespace embcomp::cuda::shim
