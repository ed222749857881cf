// Host mode: DheTable's kernels compiled as C++ against the shim (cuda/shim), run by the CPU
// tests against the CPU tables.
#include "../src/dhe_table.cu"
