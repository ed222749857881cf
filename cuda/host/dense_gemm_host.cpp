// Host mode: the dense model's products through the CPU's GEMM (see dense_gemm.hpp).
#include "../src/dense_gemm.cu"
