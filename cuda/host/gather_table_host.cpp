// Host mode: GatherTable's kernels compiled as C++ against the shim (cuda/shim), run by the CPU
// tests against the CPU tables.
#include "../src/gather_table.cu"
