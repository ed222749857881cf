// Host mode: RobeTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/robe_table.cu"
