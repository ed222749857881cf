// Host mode: CafeTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/cafe_table.cu"
