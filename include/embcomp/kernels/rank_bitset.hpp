// Rank queries on a set of ids in [0, n), in two compact encodings, so that a member's ordinal
// (how many members precede it) needs no n-entry remap:
//   bitset:  words[ceil(n/64)] (bit i%64 of word i/64 set for a member) and
//            ranks[ceil(n/64)] (members in the words before each word): 12 B per 64 ids.
//   sorted:  the members in increasing order: 4 B per member.
// rank_*(i) = members < i; the `_reference` twins count by brute force for the tests.
#pragma once

#include <bit>
#include <cstdint>

#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// Whether i is in the bitset `words`.
EMBCOMP_HD bool bitset_contains(const std::uint64_t* words, std::uint64_t i) {
  return ((words[i >> 6] >> (i & 63)) & 1ULL) != 0;
}

/// Members < i of the bitset (words, ranks).
EMBCOMP_HD std::uint64_t bitset_rank(const std::uint64_t* words, const std::uint32_t* ranks,
                                     std::uint64_t i) {
  const std::uint64_t below = words[i >> 6] & ((1ULL << (i & 63)) - 1ULL);
  return ranks[i >> 6] + static_cast<std::uint64_t>(std::popcount(below));
}

/// Fills ranks[w] = members in words[0, w), for `count` words.
inline void bitset_build_ranks(const std::uint64_t* words, std::uint64_t count,
                               std::uint32_t* ranks) {
  std::uint32_t total = 0;
  for (std::uint64_t w = 0; w < count; ++w) {
    ranks[w] = total;
    total += static_cast<std::uint32_t>(std::popcount(words[w]));
  }
}

/// Members < i of the increasing list sorted[0, count) (a binary search).
EMBCOMP_HD std::uint64_t sorted_rank(const std::uint32_t* sorted, std::uint64_t count,
                                     std::uint64_t i) {
  std::uint64_t lo = 0, hi = count;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] < i) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/// Whether i is in the increasing list sorted[0, count).
EMBCOMP_HD bool sorted_contains(const std::uint32_t* sorted, std::uint64_t count, std::uint64_t i) {
  const std::uint64_t r = sorted_rank(sorted, count, i);
  return r < count && sorted[r] == i;
}

/// bitset_rank by counting bits one by one.
inline std::uint64_t bitset_rank_reference(const std::uint64_t* words, std::uint64_t i) {
  std::uint64_t r = 0;
  for (std::uint64_t j = 0; j < i; ++j) r += bitset_contains(words, j) ? 1 : 0;
  return r;
}

/// sorted_rank by a linear scan.
inline std::uint64_t sorted_rank_reference(const std::uint32_t* sorted, std::uint64_t count,
                                           std::uint64_t i) {
  std::uint64_t r = 0;
  while (r < count && sorted[r] < i) ++r;
  return r;
}

}  // namespace embcomp::kernels
