// The device-wide primitives a training step needs, the one place where the two builds differ
// in algorithm: under nvcc CUB's radix sort, run-length encoding and scan; in host mode the
// same results from the standard library (a stable sort, one pass, a prefix sum). Each takes
// `scratch` for CUB's temporary storage, grown as needed and kept by the caller.
#pragma once

#include <cstdint>

#include "backend.cuh"
#include "embcomp/cuda/device_memory.hpp"

#if defined(__CUDACC__)
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>
#else
#include <algorithm>
#include <numeric>
#include <vector>
#endif

namespace embcomp::cuda::detail {

using Position = std::int32_t;

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

/// keys_out, values_out = (keys_in, values_in) stably sorted by key on bits [0, key_bits);
/// keys are >= 0.
inline void sort_pairs(DeviceArray<unsigned char>& scratch, const Index* keys_in, Index* keys_out,
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

/// The runs of equal keys in sorted[0, count): unique[u] and lengths[u] for u < *runs (runs is a
/// device pointer: the count stays on the device).
inline void run_length_encode(DeviceArray<unsigned char>& scratch, const Index* sorted,
                              Index* unique, Position* lengths, Index* runs, Index count) {
#if defined(__CUDACC__)
  with_scratch(scratch, "run-length encode", [&](void* temp, std::size_t& bytes) {
    return cub::DeviceRunLengthEncode::Encode(temp, bytes, sorted, unique, lengths, runs,
                                              static_cast<int>(count));
  });
#else
  (void)scratch;
  Index u = -1;
  for (Index i = 0; i < count; ++i) {
    if (i == 0 || sorted[i] != sorted[i - 1]) unique[++u] = sorted[i], lengths[u] = 0;
    ++lengths[u];
  }
  *runs = u + 1;
#endif
}

/// out[i] = in[0] + ... + in[i-1] for i in [0, count).
inline void exclusive_sum(DeviceArray<unsigned char>& scratch, const Position* in, Position* out,
                          Index count) {
#if defined(__CUDACC__)
  with_scratch(scratch, "exclusive scan", [&](void* temp, std::size_t& bytes) {
    return cub::DeviceScan::ExclusiveSum(temp, bytes, in, out, static_cast<int>(count));
  });
#else
  (void)scratch;
  std::exclusive_scan(in, in + count, out, Position{0});
#endif
}

}  // namespace embcomp::cuda::detail
