// Host mode: raw_gather compiled as C++ against the shim (cuda/shim).
#include "../src/raw_gather.cu"
