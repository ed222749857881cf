// Host mode: OptEmbedTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/optembed_table.cu"
