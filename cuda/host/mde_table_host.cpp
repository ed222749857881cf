// Host mode: MdeTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/mde_table.cu"
