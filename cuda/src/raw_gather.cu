// raw_gather (cuda/include/embcomp/cuda/raw_gather.hpp): the bare gather kernel, the same
// thread layout as GatherTable's lookup.
#include <cstdint>

#include "backend.cuh"
#include "embcomp/cuda/raw_gather.hpp"

namespace embcomp::cuda {
namespace detail {

template <int V>
EMBCOMP_KERNEL void raw_gather_kernel(const float* table, Index width, const Index* rows,
                                      Index count, float* out) {
  const Index chunks = width / V;
  for (Index i = thread_index(); i < count * chunks; i += thread_count()) {
    const Index p = i / chunks;
    const Index c = (i - p * chunks) * V;
    copy_floats<V>(table + rows[p] * width + c, out + p * width + c);
  }
}

}  // namespace detail

void raw_gather(const float* table, Index width, const Index* rows, Index count, float* out) {
  if (width % 4 == 0 && reinterpret_cast<std::uintptr_t>(out) % 16 == 0 &&
      reinterpret_cast<std::uintptr_t>(table) % 16 == 0) {
    detail::launch(count * (width / 4), detail::raw_gather_kernel<4>, table, width, rows, count,
                   out);
  } else {
    detail::launch(count * width, detail::raw_gather_kernel<1>, table, width, rows, count, out);
  }
}

}  // namespace embcomp::cuda
