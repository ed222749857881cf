// Host mode: QrTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/qr_table.cu"
