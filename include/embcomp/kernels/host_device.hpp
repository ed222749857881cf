// EMBCOMP_HD marks the small math functions in kernels/ that both backends call: under nvcc
// they compile for host and device, in a plain C++ build the macro is empty.
#pragma once

#if defined(__CUDACC__)
#define EMBCOMP_HD __host__ __device__ __forceinline__
#else
#define EMBCOMP_HD inline
#endif
