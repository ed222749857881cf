// Host mode: the dense model's kernels compiled as C++ against the shim (cuda/shim), run by the
// CPU tests against the CPU models.
#include "../src/device_model.cu"
