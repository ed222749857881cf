// Host mode: TtTable's kernels compiled as C++ against the shim (cuda/shim), run by the CPU tests
// against the CPU tables.
#include "../src/tt_table.cu"
