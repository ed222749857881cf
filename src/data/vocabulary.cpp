#include "embcomp/data/vocabulary.hpp"

#include <algorithm>

#include <xxhash.h>

#include "embcomp/core/error.hpp"

namespace embcomp {

std::uint64_t FieldVocabulary::key_of(std::string_view value) {
  const std::uint64_t hash = XXH3_64bits(value.data(), value.size());
  return hash == 0 ? 1 : hash;
}

std::size_t FieldVocabulary::find(std::uint64_t key) const {
  const std::size_t mask = slots_.size() - 1;
  std::size_t at = static_cast<std::size_t>(key) & mask;
  while (slots_[at].key != 0 && slots_[at].key != key) at = (at + 1) & mask;
  return at;
}

void FieldVocabulary::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : 2 * old.size(), Slot{});
  for (const Slot& slot : old) {
    if (slot.key != 0) slots_[find(slot.key)] = slot;
  }
}

void FieldVocabulary::count(std::string_view value) {
  if (finalized_) throw InvalidArgument("vocabulary: count() after finalize()");
  if (10 * (used_ + 1) > 7 * slots_.size()) grow();
  const std::uint64_t key = key_of(value);
  Slot& slot = slots_[find(key)];
  if (slot.key == 0) {
    slot.key = key;
    slot.order_or_id = used_++;
  }
  ++slot.count;
}

void FieldVocabulary::finalize(std::int64_t min_count, IdOrder id_order) {
  if (finalized_) throw InvalidArgument("vocabulary: finalize() called twice");
  finalized_ = true;
  has_oov_ = min_count > 1;
  struct Entry {
    std::uint64_t count, order;
    Slot* slot;
  };
  std::vector<Entry> entries;
  entries.reserve(used_);
  for (Slot& slot : slots_) {
    if (slot.key != 0) entries.push_back({slot.count, slot.order_or_id, &slot});
  }
  std::sort(entries.begin(), entries.end(), [id_order](const Entry& a, const Entry& b) {
    switch (id_order) {
      case IdOrder::ranked: return a.count != b.count ? a.count > b.count : a.order < b.order;
      case IdOrder::hashed: return a.slot->key < b.slot->key;  // keys are distinct
      case IdOrder::first_seen: break;
    }
    return a.order < b.order;
  });
  counts_.assign(has_oov_ ? 1 : 0, 0);
  for (const Entry& e : entries) {
    if (has_oov_ && e.count < static_cast<std::uint64_t>(min_count)) {
      e.slot->order_or_id = 0;
      counts_[0] += e.count;
    } else {
      e.slot->order_or_id = counts_.size();
      counts_.push_back(e.count);
    }
  }
}

Index FieldVocabulary::id_of(std::string_view value) const {
  if (!finalized_) throw InvalidArgument("vocabulary: id_of() before finalize()");
  const Slot* slot = slots_.empty() ? nullptr : &slots_[find(key_of(value))];
  if (slot == nullptr || slot->key == 0) return has_oov_ ? 0 : -1;
  return static_cast<Index>(slot->order_or_id);
}

}  // namespace embcomp
