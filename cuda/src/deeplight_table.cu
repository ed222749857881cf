// cuda::DeepLightTable (cuda/include/embcomp/cuda/deeplight_table.hpp): the device's prune. The
// schedule is read in mirror.cpp (it reads the CPU table). The same source builds under nvcc and,
// in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/deeplight_table.hpp"

#include "magnitude.cuh"

namespace embcomp::cuda {

void DeepLightTable::prune(Index zeros) {
  detail::prune_smallest(fp32_rows(), rows() * width(), zeros, prune_counts_, prune_ties_);
}

}  // namespace embcomp::cuda
