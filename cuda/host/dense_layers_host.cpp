// Host mode: the dense layers' kernels compiled as C++ against the shim (cuda/shim), run by the
// CPU tests against the CPU layers.
#include "../src/dense_layers.cu"
