// Product quantization math written once (dpq, mgqe and their serving forms; host+device):
// bit-packed codes, decoding a row from them, and the nearest centroid of a sub-vector.
//
// Codes layout: code (r, j) of row r, part j (D parts of `bits` bits each) starts at bit
// (r D + j) bits of a uint64 array, least significant bit first; a code may span two words.
#pragma once

#include <cstdint>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"
#include "embcomp/kernels/rank_bitset.hpp"

namespace embcomp::kernels {

/// Words of a packed array of `count` codes of `bits` bits.
EMBCOMP_HD Index packed_words(Index count, int bits) { return (count * bits + 63) / 64; }

/// Bits per code for K centroids: ceil(log2 K), at least 1.
EMBCOMP_HD int code_bits(Index centroids) {
  int bits = 1;
  while ((Index{1} << bits) < centroids) ++bits;
  return bits;
}

/// Code `index` of a packed array of `bits`-bit codes (bits <= 32).
EMBCOMP_HD std::uint32_t read_code(const std::uint64_t* words, Index index, int bits) {
  const auto bit = static_cast<std::uint64_t>(index) * static_cast<std::uint64_t>(bits);
  const std::uint64_t word = bit / 64, shift = bit % 64;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  std::uint64_t value = words[word] >> shift;
  if (shift + static_cast<std::uint64_t>(bits) > 64) value |= words[word + 1] << (64 - shift);
  return static_cast<std::uint32_t>(value & mask);
}

/// Writes code `index` (not thread-safe: neighbouring codes share words).
EMBCOMP_HD void write_code(std::uint64_t* words, Index index, int bits, std::uint32_t code) {
  const auto bit = static_cast<std::uint64_t>(index) * static_cast<std::uint64_t>(bits);
  const std::uint64_t word = bit / 64, shift = bit % 64;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  const std::uint64_t value = static_cast<std::uint64_t>(code) & mask;
  words[word] = (words[word] & ~(mask << shift)) | (value << shift);
  if (shift + static_cast<std::uint64_t>(bits) > 64) {
    const std::uint64_t spill = 64 - shift;
    words[word + 1] = (words[word + 1] & ~(mask >> spill)) | (value >> spill);
  }
}

/// out[parts x width] = the row whose D codes are codes [first, first + parts) of the packed
/// `bits`-bit array: part j copies centroid row j part_stride + code of `table` [rows x width]
/// (part_stride 0: every part reads the same centroids).
EMBCOMP_HD void decode_codes(const std::uint64_t* codes, Index first, int bits, Index parts,
                             const float* table, Index part_stride, Index width, float* out) {
  for (Index j = 0; j < parts; ++j) {
    const Index k = read_code(codes, first + j, bits);
    const float* c = table + (j * part_stride + k) * width;
    for (Index i = 0; i < width; ++i) out[j * width + i] = c[i];
  }
}

/// One position of the straight-through forward (methods/pq_training.hpp): out[parts x width] =
/// part j's centroid codes[j] of `table` (rows part_stride apart by part; 0: shared), and
/// returns the sum over the entries of (out - q)^2 in double, parts and entries in order.
EMBCOMP_HD double quantize_position(const float* q, const float* table, Index part_stride,
                                    Index parts, Index width, const Index* codes, float* out) {
  double squares = 0.0;
  for (Index j = 0; j < parts; ++j) {
    const float* c = table + (j * part_stride + codes[j]) * width;
    for (Index i = 0; i < width; ++i) {
      out[j * width + i] = c[i];
      const double diff = static_cast<double>(c[i]) - q[j * width + i];
      squares += diff * diff;
    }
  }
  return squares;
}

/// Where a row's codes are in a table of two frequency groups (mgqe): its group, and its rank
/// among the group's rows (its codes start at code rank D of the group's array).
struct CodeSlot {
  bool high = false;
  Index rank = 0;
};

/// The arrays of a FrequencySplit (serving/grouped_pq_table.hpp), in host or device memory:
/// without `words` the prefix encoding (field f's ids [0, h_f) are high, h_f = high_before[f + 1]
/// - high_before[f]; offsets [F] the fields' first stacked rows), else the bitset of high rows
/// over the stacked rows and its ranks.
struct SplitView {
  const Index* offsets = nullptr;
  const Index* high_before = nullptr;
  const std::uint64_t* words = nullptr;
  const std::uint32_t* ranks = nullptr;

  /// Stacked row `row` of field `field`: its group and rank.
  EMBCOMP_HD CodeSlot slot(Index field, Index row) const {
    if (words == nullptr) {
      const Index id = row - offsets[field];
      const Index high = high_before[field + 1] - high_before[field];
      return id < high ? CodeSlot{true, high_before[field] + id}
                       : CodeSlot{false, offsets[field] - high_before[field] + id - high};
    }
    const auto x = static_cast<std::uint64_t>(row);
    const auto rank = static_cast<Index>(bitset_rank(words, ranks, x));
    return bitset_contains(words, x) ? CodeSlot{true, rank} : CodeSlot{false, row - rank};
  }
};

/// The k in [0, K) minimising ||q - centroids[k]||^2 (the first on ties); centroids is
/// [K x width] row-major.
EMBCOMP_HD Index nearest_centroid(const float* q, const float* centroids, Index K, Index width) {
  Index best = 0;
  float best_distance = 0.0f;
  for (Index k = 0; k < K; ++k) {
    float distance = 0.0f;
    for (Index c = 0; c < width; ++c) {
      const float diff = q[c] - centroids[k * width + c];
      distance += diff * diff;
    }
    if (k == 0 || distance < best_distance) {
      best = k;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace embcomp::kernels
