// Host mode: AutoDimTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/autodim_table.cu"
