// Per-field vocabularies: raw categorical value -> local id, with frequency counts per id.
//
// Values are keyed by their 64-bit XXH3 hash (two distinct values of one field merge only on a
// hash collision: probability about n^2 / 2^65, ~3e-6 for a field of 10M values), so memory is
// independent of value lengths. Ids are assigned (data/id_order.hpp) by descending frequency,
// ties broken by first-seen order (ranked, the default: the most frequent value is id 0, or 1
// with an OOV id); by first appearance (first_seen); or by the values' hashes (hashed, a
// pseudo-random order like raw hashed ids). Each is deterministic for a given input order. With min_count > 1, id 0 is the out-of-vocabulary id: every value seen
// fewer than min_count times maps to it and its count is the sum of theirs. The empty value is
// a value like any other. Storage is an open-addressing table of 24-byte slots kept at most
// 70 % full (about 35 bytes per distinct value).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/data/id_order.hpp"

namespace embcomp {

class FieldVocabulary {
 public:
  /// Pass 1: counts one occurrence of `value`.
  void count(std::string_view value);
  /// Ends counting and assigns ids in `order` (see the file comment). Call once.
  void finalize(std::int64_t min_count = 1, IdOrder order = IdOrder::ranked);

  /// Pass 2: the id of `value`; the OOV id 0 for rare or unseen values when has_oov(), else
  /// -1 for a value never counted.
  Index id_of(std::string_view value) const;

  bool finalized() const { return finalized_; }
  bool has_oov() const { return has_oov_; }
  /// Number of ids (the field's cardinality), OOV included.
  Index size() const { return static_cast<Index>(counts_.size()); }
  /// Occurrences per id (after finalize).
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  /// Distinct values counted (before min-count merging).
  Index distinct_values() const { return static_cast<Index>(used_); }

  static std::uint64_t key_of(std::string_view value);

 private:
  struct Slot {
    std::uint64_t key = 0;          ///< 0: empty (a value hashing to 0 is stored as 1)
    std::uint64_t count = 0;
    std::uint64_t order_or_id = 0;  ///< first-seen order while counting, the id after finalize
  };
  /// The slot holding `key`, or the empty slot where it belongs.
  std::size_t find(std::uint64_t key) const;
  void grow();

  std::vector<Slot> slots_;  // size a power of two
  std::size_t used_ = 0;
  std::vector<std::uint64_t> counts_;
  bool finalized_ = false;
  bool has_oov_ = false;
};

}  // namespace embcomp
