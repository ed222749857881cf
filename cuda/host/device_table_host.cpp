// Host mode: the device tables' shared base compiled as C++ against the shim (cuda/shim).
#include "../src/device_table.cu"
