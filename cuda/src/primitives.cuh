// The device-wide primitive a training step needs, the one place where the two builds differ in
// algorithm: under nvcc CUB's radix sort, in host mode the same result from the standard
// library's stable sort. It takes `scratch` for CUB's temporary storage, grown as needed and
// kept by the caller.
#pragma once

#include <cstdint>

#include "backend.cuh"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/cuda/device_table.hpp"

#if defined(__CUDACC__)
#include <cub/device/device_radix_sort.cuh>
#else
#include <numeric>
#include <vector>
#endif
#include <algorithm>

namespace embcomp::cuda::detail {

using Position = std::int32_t;
/// A row as a sort key: tables on a device have fewer than 2^32 rows (GatherTable checks).
using RowKey = std::uint32_t;

#if defined(__CUDACC__)
/// Calls a CUB algorithm twice, the first time for its scratch size.
template <class Call>
void with_scratch(DeviceArray<unsigned char>& scratch, const char* what, Call call) {
  std::size_t bytes = 0;
  check_cuda(call(nullptr, bytes), what);
  scratch.reserve(std::max<std::size_t>(bytes, 1));
  check_cuda(call(scratch.data(), bytes), what);
}
#endif

/// keys_out, values_out = (keys_in, values_in) stably sorted by key on bits [0, key_bits).
inline void sort_pairs(DeviceArray<unsigned char>& scratch, const RowKey* keys_in, RowKey* keys_out,
                       const Position* values_in, Position* values_out, Index count, int key_bits) {
#if defined(__CUDACC__)
  with_scratch(scratch, "radix sort", [&](void* temp, std::size_t& bytes) {
    return cub::DeviceRadixSort::SortPairs(temp, bytes, keys_in, keys_out, values_in, values_out,
                                           static_cast<int>(count), 0, key_bits);
  });
#else
  (void)scratch, (void)key_bits;
  std::vector<Position> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), Position{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](Position a, Position b) { return keys_in[a] < keys_in[b]; });
  for (Index i = 0; i < count; ++i) {
    keys_out[i] = keys_in[order[static_cast<std::size_t>(i)]];
    values_out[i] = values_in[order[static_cast<std::size_t>(i)]];
  }
#endif
}

/// order's sorted copies of its first `count` keys and positions, stably by key on every bit
/// (kNoRow sorts last).
inline void sort_positions(SortedPositions& order, DeviceArray<unsigned char>& scratch,
                           Index count) {
  sort_pairs(scratch, order.keys.data(), order.sorted_keys.data(), order.positions.data(),
             order.sorted_positions.data(), count, 32);
}

}  // namespace embcomp::cuda::detail
