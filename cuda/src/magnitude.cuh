// Magnitude pruning on the device (deeplight's twin): the result of kernels::prune_smallest, bit
// for bit (kernels/magnitude.hpp): exactly k entries zeroed, every |w| below the k-th smallest
// magnitude and then entries equal to it in index order. The same radix select finds the k-th
// smallest magnitude: two 16-bit histogram passes over the keys of |w| on the device, each
// scanned on the host (512 KB read back). A pass then zeroes the entries below it; where only
// some entries equal to it are to be zeroed, their indices are gathered, sorted on the host, and
// the first ones zeroed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backend.cuh"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/kernels/magnitude.hpp"

namespace embcomp::cuda::detail {

inline constexpr std::size_t kMagnitudeBuckets = std::size_t{1} << 16;

/// Pass 1 (high < 0): counts[key >> 16] += 1 for every entry; pass 2: counts[key & 0xffff] += 1
/// for the entries whose key's high half is `high`.
EMBCOMP_KERNEL void magnitude_histogram_kernel(const float* w, Index n, long long high,
                                               unsigned long long* counts) {
  for (Index i = thread_index(); i < n; i += thread_count()) {
    const std::uint32_t key = kernels::magnitude_key(w[i]);
    if (high < 0) {
      atomicAdd(counts + (key >> 16), 1ULL);
    } else if ((key >> 16) == static_cast<std::uint32_t>(high)) {
      atomicAdd(counts + (key & 0xffffu), 1ULL);
    }
  }
}

/// Zeroes the entries whose key is below `threshold`, and those equal to it with `zero_ties`;
/// otherwise (`ties` not null) appends the indices of the entries equal to it to `ties`.
EMBCOMP_KERNEL void prune_below_kernel(float* w, Index n, std::uint32_t threshold, bool zero_ties,
                                       long long* ties, unsigned long long* tie_count) {
  for (Index i = thread_index(); i < n; i += thread_count()) {
    const std::uint32_t key = kernels::magnitude_key(w[i]);
    if (key < threshold || (key == threshold && zero_ties)) {
      w[i] = 0.0f;
    } else if (key == threshold && ties != nullptr) {
      ties[atomicAdd(tie_count, 1ULL)] = static_cast<long long>(i);
    }
  }
}

/// w[at[j]] = 0 for j < count.
EMBCOMP_KERNEL void zero_at_kernel(float* w, const long long* at, Index count) {
  for (Index j = thread_index(); j < count; j += thread_count()) w[at[j]] = 0.0f;
}

/// The histogram of one pass, read back; `counts` is device scratch (kMagnitudeBuckets counts and
/// prune_smallest's tie counter).
inline std::vector<unsigned long long> magnitude_histogram(
    const float* w, Index n, long long high, DeviceArray<unsigned long long>& counts) {
  counts.reserve(kMagnitudeBuckets + 1);
  counts.zero();
  launch(n, magnitude_histogram_kernel, w, n, high, counts.data());
  std::vector<unsigned long long> host(kMagnitudeBuckets);
  copy_to_host(host.data(), counts.data(), kMagnitudeBuckets * sizeof(unsigned long long));
  return host;
}

/// kernels::prune_smallest(w, n, k) on device memory w[0, n). Scratch, kept by the caller:
/// `counts` (a histogram and a counter) and `ties` (indices).
inline void prune_smallest(float* w, Index n, Index k, DeviceArray<unsigned long long>& counts,
                           DeviceArray<long long>& ties) {
  if (k <= 0 || n <= 0) return;
  if (k >= n) {
    zero_device(w, static_cast<std::size_t>(n) * sizeof(float));
    return;
  }
  // The radix select of kernels::kth_smallest_magnitude_key, its histograms made here.
  Index below = 0;  // entries whose key is below the bucket chosen so far
  const auto select = [&](const std::vector<unsigned long long>& bucket_counts) {
    std::uint32_t bucket = 0;
    while (below + static_cast<Index>(bucket_counts[bucket]) < k) {
      below += static_cast<Index>(bucket_counts[bucket++]);
    }
    return bucket;
  };
  const std::uint32_t high = select(magnitude_histogram(w, n, -1, counts));
  const auto low_counts = magnitude_histogram(w, n, high, counts);
  const std::uint32_t low = select(low_counts);
  const std::uint32_t threshold = (high << 16) | low;
  const Index to_zero = k - below;  // entries equal to the threshold to zero, in index order
  const auto equal = static_cast<Index>(low_counts[low]);
  if (to_zero == equal) {
    launch(n, prune_below_kernel, w, n, threshold, true, static_cast<long long*>(nullptr),
           static_cast<unsigned long long*>(nullptr));
    return;
  }
  ties.reserve(static_cast<std::size_t>(equal));
  unsigned long long* tie_count = counts.data() + kMagnitudeBuckets;
  zero_device(tie_count, sizeof(unsigned long long));
  launch(n, prune_below_kernel, w, n, threshold, false, ties.data(), tie_count);
  std::vector<long long> at(static_cast<std::size_t>(equal));
  copy_to_host(at.data(), ties.data(), at.size() * sizeof(long long));
  std::sort(at.begin(), at.end());
  copy_to_device(ties.data(), at.data(), static_cast<std::size_t>(to_zero) * sizeof(long long));
  launch(to_zero, zero_at_kernel, w, static_cast<const long long*>(ties.data()), to_zero);
}

}  // namespace embcomp::cuda::detail
