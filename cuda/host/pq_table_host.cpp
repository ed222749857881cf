// Host mode: PqTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/pq_table.cu"
