// Host mode: AutoSrhTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/autosrh_table.cu"
