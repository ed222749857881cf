// Per-field sets of ids ("members": adaembed's hot ids, optembed's kept rows), each stored in
// one of three encodings (kernels/row_map.hpp, HotSet), written once:
//   prefix  nothing: the members are {0, ..., h-1}
//   sorted  the members in increasing order, u32:                  4 B per member
//   bitset  ceil(n/64) words u64 and their ranks u32:              12 B per 64 ids
// The arrays are the owning table's index state; a field's set lives at an offset into them.
// kernels::hot_rank answers "is id a member, and how many members precede it" on either
// backend.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/index_state.hpp"
#include "embcomp/kernels/row_map.hpp"

namespace embcomp {

/// How a field stores its set of members (prefix, sorted or bitset).
using HotSet = kernels::HotSet;

/// Bytes of a sorted set per member, and of a ranked bitset per 64 ids (word + rank).
inline constexpr double kSortedBytesPerId = 4.0;
inline constexpr double kBitsetBytesPerWord = 12.0;

/// Words of a bitset over n ids.
inline Index hot_set_words(Index n) { return (n + 63) / 64; }

/// Bytes of h members of n ids stored as `set`.
inline double id_set_bytes(Index n, Index h, HotSet set) {
  if (set == HotSet::sorted) return kSortedBytesPerId * static_cast<double>(h);
  if (set == HotSet::bitset) return kBitsetBytesPerWord * static_cast<double>(hot_set_words(n));
  return 0.0;
}

/// The cheaper of sorted and bitset for h of n members that are not a prefix.
inline HotSet cheaper_stored_set(Index n, Index h) {
  return id_set_bytes(n, h, HotSet::sorted) <= id_set_bytes(n, h, HotSet::bitset) ? HotSet::sorted
                                                                                  : HotSet::bitset;
}

/// The cheapest encoding of `members` (increasing) of [0, n): prefix when they are {0..h-1}.
inline HotSet cheapest_id_set(Index n, std::span<const std::uint32_t> members) {
  const auto h = static_cast<Index>(members.size());
  if (h == 0 || static_cast<Index>(members.back()) == h - 1) return HotSet::prefix;
  return cheaper_stored_set(n, h);
}

/// The stored sets of every field: views of the owning table's index arrays.
class IdSets {
 public:
  IdSets(IndexArray<std::uint32_t>& ids, IndexArray<std::uint64_t>& words,
         IndexArray<std::uint32_t>& ranks)
      : ids_(ids), words_(words), ranks_(ranks) {}

  /// Appends `members` (increasing, in [0, n)) as `set`; returns the set's offset (0 for a
  /// prefix, which stores nothing).
  Index store(HotSet set, Index n, std::span<const std::uint32_t> members) {
    if (set == HotSet::prefix) return 0;
    if (set == HotSet::sorted) {
      const auto first = static_cast<Index>(ids_.size());
      ids_.values.insert(ids_.values.end(), members.begin(), members.end());
      return first;
    }
    const std::size_t first = words_.size();
    const auto words = static_cast<std::size_t>(hot_set_words(n));
    words_.values.resize(first + words, 0);
    for (std::uint32_t id : members) words_[first + id / 64] |= 1ULL << (id % 64);
    ranks_.values.resize(first + words);
    kernels::bitset_build_ranks(words_.data() + first, words, ranks_.data() + first);
    return static_cast<Index>(first);
  }

  /// Throws CheckpointError("checkpoint damaged: <what> ...") unless a set of `count` members
  /// of [0, n) is stored as `set` at `offset`, so that a damaged file cannot make a lookup read
  /// out of bounds. Written so that no sum can overflow, whatever the file holds.
  void check(std::int64_t set, Index n, Index count, Index offset, const std::string& what) const {
    const auto bad = [&](const char* part) {
      throw CheckpointError("checkpoint damaged: " + what + " " + part);
    };
    if (count < 0 || count > n) bad("member count");
    const auto h = static_cast<std::size_t>(count);
    const auto at = static_cast<std::size_t>(offset);
    switch (static_cast<HotSet>(set)) {
      case HotSet::prefix:
        return;
      case HotSet::sorted:
        if (offset < 0 || h > ids_.size() || at > ids_.size() - h) bad("ids");
        for (std::size_t k = 0; k < h; ++k) {
          const std::uint32_t id = ids_[at + k];
          if (static_cast<Index>(id) >= n || (k > 0 && id <= ids_[at + k - 1])) bad("ids");
        }
        return;
      case HotSet::bitset: {
        const auto words = static_cast<std::size_t>(hot_set_words(n));
        if (offset < 0 || words > words_.size() || at > words_.size() - words) bad("bitset");
        std::vector<std::uint32_t> ranks(words);
        kernels::bitset_build_ranks(words_.data() + at, words, ranks.data());
        const std::uint64_t total =
            words == 0 ? 0 : ranks.back() + static_cast<std::uint64_t>(std::popcount(words_[at + words - 1]));
        if (total != h || !std::equal(ranks.begin(), ranks.end(), ranks_.data() + at)) bad("bitset");
        if (n % 64 != 0 && (words_[at + words - 1] >> (n % 64)) != 0) bad("bitset");
        return;
      }
    }
    bad("set kind");
  }

  /// Throws CheckpointError unless the bitsets' ranks are as many as their words.
  void check_arrays(const std::string& what) const {
    if (ranks_.size() != words_.size()) throw CheckpointError("checkpoint damaged: " + what + " bitset ranks");
  }

  /// Where the sets are, for kernels::hot_rank.
  kernels::HotSets view() const { return {ids_.data(), words_.data(), ranks_.data()}; }

  void clear() {
    ids_.values.clear();
    words_.values.clear();
    ranks_.values.clear();
  }

 private:
  IndexArray<std::uint32_t>& ids_;
  IndexArray<std::uint64_t>& words_;
  IndexArray<std::uint32_t>& ranks_;
};

}  // namespace embcomp
