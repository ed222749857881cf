// Host mode: PepTable's kernels compiled as C++ against the shim (cuda/shim), run by the CPU tests
// against the CPU tables.
#include "../src/pep_table.cu"
