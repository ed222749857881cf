// Host mode: DeepLightTable's kernels compiled as C++ against the shim (cuda/shim).
#include "../src/deeplight_table.cu"
