// Host mode: KeptRowsTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/kept_rows_table.cu"
