// Host mode: the device runtime's source compiled as C++ against the shim (cuda/shim).
#include "../src/runtime.cu"
