// ROBE-Z index math (spec methods-inter.md §5): where element j of id x's embedding lives in
// the circular array M[S], and its sign. With the prime P = 2,038,074,743, constants
// r1..r8 in [1, P), L = d / Z elements per chunk and c = j div L, in int64 arithmetic:
//   location(x, e, j) = ((r3 x + r1 + (j mod L) + r2 c [+ r4 e]) mod P) mod S
//   sign(x, e, j)     = 2 (((r7 x + r5 + r6 j [+ r8 e]) mod P) mod 2) - 1
// (the bracketed slot terms only with use_slot; e is the field). The in-chunk offset is added
// before the mod P and mod S, so a window wraps around the array's end. Every product is below
// 2^62 for x < 2^31, so nothing overflows.
#pragma once

#include <cstdint>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp::kernels {

/// The reference's prime modulus (it asserts the ids stay below it).
inline constexpr std::int64_t kRobePrime = 2'038'074'743;

/// The hash constants and shape of one ROBE array.
struct RobeHash {
  std::int64_t r[9] = {};    ///< r[1..8] in [1, P); r[0] unused (the reference's r0 is P)
  std::int64_t size = 1;     ///< S: cells of the array
  std::int64_t chunk = 1;    ///< L = d / Z: elements of one contiguous chunk
  bool use_slot = false;     ///< add the field terms r4 e and r8 e
};

/// r[1..8] drawn uniformly from [1, P) by a stream of `seed` (the reference draws them with
/// numpy's randint; the distribution is the same).
inline RobeHash make_robe_hash(std::uint64_t seed, std::int64_t size, std::int64_t chunk,
                               bool use_slot) {
  RobeHash h;
  for (int i = 1; i <= 8; ++i) {
    const std::uint64_t draw = mix64(combine(seed, static_cast<std::uint64_t>(i)));
    h.r[i] = 1 + static_cast<std::int64_t>(draw % static_cast<std::uint64_t>(kRobePrime - 1));
  }
  h.size = size;
  h.chunk = chunk;
  h.use_slot = use_slot;
  return h;
}

/// The cell of M holding element j of key x (a global id) in field e.
EMBCOMP_HD std::int64_t robe_location(const RobeHash& h, std::int64_t x, std::int64_t e,
                                      std::int64_t j) {
  std::int64_t v = h.r[3] * x + h.r[1] + j % h.chunk + h.r[2] * (j / h.chunk);
  if (h.use_slot) v += h.r[4] * e;
  return (v % kRobePrime) % h.size;
}

/// The sign (+1 or -1) element j of key x in field e is read with.
EMBCOMP_HD float robe_sign(const RobeHash& h, std::int64_t x, std::int64_t e, std::int64_t j) {
  std::int64_t v = h.r[7] * x + h.r[5] + h.r[6] * j;
  if (h.use_slot) v += h.r[8] * e;
  return ((v % kRobePrime) % 2) == 1 ? 1.0f : -1.0f;
}

/// cells[d] and signs[d] of key x in field e: the d (cell, sign) pairs its embedding reads,
/// the same as robe_location and robe_sign element by element. Two int64 divisions per chunk
/// instead of two per element: successive elements of a chunk add 1 to the location before
/// its mod P and mod S, and r6 to the sign's, so both are carried from element to element
/// (a wrap at P or S is a subtraction).
EMBCOMP_HD void robe_cells(const RobeHash& h, std::int64_t x, std::int64_t e, Index d,
                           Index* cells, float* signs) {
  const std::int64_t P = kRobePrime;
  const std::int64_t first = (h.r[3] * x + h.r[1] + (h.use_slot ? h.r[4] * e : 0)) % P;
  std::int64_t sign = (h.r[7] * x + h.r[5] + (h.use_slot ? h.r[8] * e : 0)) % P;
  std::int64_t chunk_start = first;  // (r3 x + r1 + r2 c [+ r4 e]) mod P of chunk c
  for (Index j = 0; j < d; chunk_start = (chunk_start + h.r[2]) % P) {
    std::int64_t at = chunk_start, cell = at % h.size;  // location before mod S, and after
    for (Index i = 0; i < h.chunk && j < d; ++i, ++j) {
      cells[j] = cell;
      signs[j] = (sign & 1) == 1 ? 1.0f : -1.0f;
      sign += h.r[6];
      if (sign >= P) sign -= P;
      if (++at == P) at = 0, cell = 0;
      else if (++cell == h.size) cell = 0;
    }
  }
}

}  // namespace embcomp::kernels
