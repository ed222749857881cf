// HotSketch (spec cafe.md §1): a Space-Saving heavy-hitter sketch that also hands out "hot rows".
// It is CAFE's feature-importance tracker, and usable on its own (insert / query / top-k).
//
// Layout: `buckets` buckets of `slots` slots (default 4), row-major [buckets x slots]; a slot is
// 12 bytes: id (uint32 global feature id), score (float32; 0 = empty slot), hot_row (int32;
// -1 = not hot). Hot rows 0 .. hot_rows-1 come from a FIFO free list. Bucket of id x:
// kernels::sketch_bucket (default x mod buckets, the reference).
//
// insert(x, s), s > 0 (the running total `inserted` grows by s first):
//   hit   x is in a slot with score > 0: score += s; if score >= T, x is not hot and a free row
//         exists, x takes the front of the free list ("newly hot", the row is returned).
//   empty no hit, an empty slot exists: (x, s) goes there; never promoted at insertion.
//   full  no hit, no empty slot: if the minimum slot is not hot, Space-Saving replaces it:
//         (x, score_min + s), not hot. If it is hot, the arrival is dropped.
//   Slots stay sorted by score, descending (ties keep their order), so the last slot is the
//   minimum. (The reference re-sorts only on a hit, so after an empty-slot insert or a
//   replacement its "last slot" is not always the minimum; here it always is.)
// insert_batch: first, if inserted > 10 x buckets x T, decay(): every hot slot whose score x d
//   falls below T is demoted (its row goes to the back of the free list), every score is
//   multiplied by d, and the running total restarts at 0. Then the items are inserted in order.
// query(x): hot row (or -1) and score (0 when x is not in its bucket). Queries never modify.
// adaptive (CAFE+'s --adjust-threshold, spec §6): T starts at config.threshold and, after a
//   batch insert that leaves more than 1.2 x hot_rows tracked ids with score >= T, becomes the
//   hot_rows-th largest score; hot ids now below T are demoted (their rows go to the back of the
//   free list, in slot order) and others at or above T take free rows on their next hit. T only
//   rises, so a low start fills the hot rows at once and the rows then move to the ids that keep
//   scoring. The decay trigger uses the current T: as T follows the scores up, decay fires
//   rarely and the scores are close to cumulative ones.
// half_life H > 0 (adaptive only; CAFE+'s --sketch-alpha, whose increments were left unscaled):
//   a time decay. Before each insert_batch every score and T are multiplied by 2^(-1/H), so a
//   score counts what was inserted in the last few H batches and T, which adaptive keeps at the
//   hot_rows-th largest score, comes down again when the scores do. It is done lazily (forward
//   decay): slots store score x gain, gain = 2^(batches / H) since the last rescale, inserts add
//   s x gain, and every 2^16 of gain the stored scores are divided by it (a score that falls to
//   0 empties its slot and frees its row). query(), top_k() and threshold() answer in current
//   units.
//
// Scores s <= 0 or not finite are ignored (the reference would store a score-0, i.e. empty,
// slot). Ids must fit 32 bits. Memory: 12 B per slot plus 4 B per hot row for the free list.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/serialize.hpp"
#include "embcomp/core/types.hpp"
#include "embcomp/kernels/sketch.hpp"

namespace embcomp {

/// One sketch slot: 12 bytes.
struct SketchSlot {
  std::uint32_t id = 0;
  float score = 0.0f;         ///< 0: the slot is empty
  std::int32_t hot_row = -1;  ///< -1: not hot
  bool empty() const { return score == 0.0f; }
  bool hot() const { return hot_row >= 0; }
};
static_assert(sizeof(SketchSlot) == 12, "a sketch slot is 12 bytes (id, score, hot row)");

struct HotSketchConfig {
  Index buckets = 1;          ///< w
  Index slots = 4;            ///< c, slots per bucket
  Index hot_rows = 0;         ///< rows the free list hands out: 0 .. hot_rows-1 (0: no promotion)
  float threshold = 500.0f;   ///< T: promotion once a feature's score reaches it
  float decay = 0.99f;        ///< d in (0, 1]; 1 = no decay (the trigger still resets the total)
  kernels::SketchHash hash = kernels::SketchHash::modulo;
  std::uint64_t seed = 0;     ///< for hash = xxhash
  bool adaptive = false;      ///< raise T as described at the top (CAFE+)
  double half_life = 0.0;     ///< time decay in batches (0: none); adaptive only

  /// Throws InvalidArgument naming the first bad field.
  void validate() const {
    const auto bad = [](const std::string& what) { throw InvalidArgument("HotSketch: " + what); };
    if (buckets < 1) bad("buckets " + std::to_string(buckets) + " must be >= 1");
    if (slots < 1 || slots > 64) bad("slots per bucket " + std::to_string(slots) + " must be in [1, 64]");
    if (hot_rows < 0 || hot_rows > std::numeric_limits<std::int32_t>::max()) {
      bad("hot rows " + std::to_string(hot_rows) + " must be in [0, 2^31)");
    }
    if (!(threshold > 0.0f) || !std::isfinite(threshold)) bad("threshold must be finite and > 0");
    if (!(decay > 0.0f && decay <= 1.0f)) bad("decay " + std::to_string(decay) + " must be in (0, 1]");
    if (!(half_life >= 0.0) || !std::isfinite(half_life)) bad("half_life must be finite and >= 0");
    if (half_life > 0.0 && !adaptive) bad("half_life needs the adaptive threshold");
  }
};

/// What a query learns about one id.
struct SketchQuery {
  std::int32_t hot_row = -1;  ///< -1: cold
  float score = 0.0f;         ///< 0: not tracked
  bool hot() const { return hot_row >= 0; }
};

/// An item that became hot during insert_batch: its index in the batch and its new row.
struct SketchPromotion {
  Index index = 0;
  std::int32_t hot_row = -1;
};

/// A tracked id and its score (top_k).
struct SketchEntry {
  std::uint32_t id = 0;
  float score = 0.0f;
  bool hot = false;
};

class HotSketch {
 public:
  explicit HotSketch(const HotSketchConfig& config) : config_(config) {
    config_.validate();
    threshold_ = config_.threshold;
    slots_.assign(static_cast<std::size_t>(config_.buckets * config_.slots), SketchSlot{});
    free_.resize(static_cast<std::size_t>(config_.hot_rows));
    for (Index r = 0; r < config_.hot_rows; ++r) free_[r] = static_cast<std::int32_t>(r);
    free_count_ = config_.hot_rows;
    fast_modulo_ = config_.hash == kernels::SketchHash::modulo &&
                   config_.buckets <= std::numeric_limits<std::uint32_t>::max();
    if (fast_modulo_) {
      modulo_multiplier_ = kernels::fastmod32_multiplier(static_cast<std::uint32_t>(config_.buckets));
    }
  }

  const HotSketchConfig& config() const { return config_; }
  /// The promotion threshold now: config().threshold, or where adaptive has moved it.
  float threshold() const { return current(threshold_); }
  /// Tracked ids with score >= threshold().
  Index above_threshold() const { return above_; }
  /// Times adaptive has raised the threshold.
  std::uint64_t adjustments() const { return adjustments_; }

  /// Bucket index of `id` (kernels::sketch_bucket; modulo of a 32-bit id by multiply-shift).
  Index bucket_of(std::uint64_t id) const {
    if (fast_modulo_ && id <= std::numeric_limits<std::uint32_t>::max()) {
      return static_cast<Index>(kernels::fastmod32(static_cast<std::uint32_t>(id), modulo_multiplier_,
                                                   static_cast<std::uint32_t>(config_.buckets)));
    }
    return static_cast<Index>(kernels::sketch_bucket(id, static_cast<std::uint64_t>(config_.buckets),
                                                     config_.seed, config_.hash));
  }

  /// Inserts one (id, score) without the decay check; returns the newly assigned hot row or -1.
  std::int32_t insert(std::uint64_t id, float score) {
    check_id(id);
    return insert_checked(static_cast<std::uint32_t>(id), score);
  }

  /// Decay check (see the top), then insert(ids[i], scores[i]) for i in order. `promoted` is
  /// cleared and receives every item that became hot, in order.
  void insert_batch(std::span<const std::uint64_t> ids, std::span<const float> scores,
                    std::vector<SketchPromotion>& promoted) {
    if (ids.size() != scores.size()) {
      throw InvalidArgument("HotSketch::insert_batch: " + std::to_string(ids.size()) + " ids but " +
                            std::to_string(scores.size()) + " scores");
    }
    for (std::uint64_t id : ids) check_id(id);
    promoted.clear();
    if (decay_due()) decay();
    advance_time();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::int32_t row = insert_checked(static_cast<std::uint32_t>(ids[i]), scores[i]);
      if (row >= 0) promoted.push_back({static_cast<Index>(i), row});
    }
    if (config_.adaptive && config_.hot_rows > 0 &&
        static_cast<double>(above_) > 1.2 * static_cast<double>(config_.hot_rows)) {
      raise_threshold();
    }
  }

  /// Hot row and score of `id` (cold and 0 when it is not tracked).
  SketchQuery query(std::uint64_t id) const {
    if (id > std::numeric_limits<std::uint32_t>::max()) return {};
    const SketchSlot* b = bucket(bucket_of(id));
    const auto key = static_cast<std::uint32_t>(id);
    for (Index i = 0; i < config_.slots; ++i) {
      // The id first: an integer compare, where empty() is a float compare (and empty slots
      // hold id 0, so the id alone does not decide).
      if (b[i].id == key && !b[i].empty()) return {b[i].hot_row, current(b[i].score)};
    }
    return {};
  }

  /// out[i] = query(ids[i]); in parallel for large batches (queries do not modify the sketch).
  void query_batch(std::span<const std::uint64_t> ids, std::span<SketchQuery> out) const {
    if (ids.size() != out.size()) {
      throw InvalidArgument("HotSketch::query_batch: " + std::to_string(ids.size()) +
                            " ids but room for " + std::to_string(out.size()) + " results");
    }
    const auto n = static_cast<Index>(ids.size());
#pragma omp parallel for schedule(static) if (n > 8192)
    for (Index i = 0; i < n; ++i) out[i] = query(ids[i]);
  }

  /// The k tracked ids with the largest scores, descending (ties by id).
  std::vector<SketchEntry> top_k(Index k) const {
    std::vector<SketchEntry> all;
    for (const SketchSlot& s : slots_) {
      if (!s.empty()) all.push_back({s.id, current(s.score), s.hot()});
    }
    const auto order = [](const SketchEntry& a, const SketchEntry& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    };
    const auto keep = static_cast<std::size_t>(std::clamp<Index>(k, 0, static_cast<Index>(all.size())));
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(), order);
    all.resize(keep);
    return all;
  }

  /// Whether the next insert_batch starts with a decay.
  bool decay_due() const {
    return kernels::sketch_decay_due(inserted_, static_cast<std::uint64_t>(config_.buckets),
                                     current(threshold_));
  }

  /// Demotes hot slots whose decayed score falls below T (their rows go to the back of the free
  /// list, in slot order), multiplies every score by d and restarts the running total. Returns
  /// the number of demotions.
  Index decay() {
    Index demoted = 0;
    for (SketchSlot& s : slots_) {
      if (s.hot() && s.score * config_.decay < threshold_) {
        demote(s);
        ++demoted;
      }
      s.score *= config_.decay;
    }
    inserted_ = 0.0;
    ++decays_;
    above_ = count_above();
    return demoted;
  }

  /// Score inserted since the last decay.
  double inserted_since_decay() const { return inserted_; }
  /// Decays so far.
  std::uint64_t decays() const { return decays_; }
  /// Hot rows on the free list.
  Index free_rows() const { return free_count_; }
  /// Hot rows in use.
  Index hot_count() const { return config_.hot_rows - free_count_; }
  /// Occupied (non-empty) slots: the ids the sketch tracks.
  Index tracked_count() const {
    return static_cast<Index>(std::count_if(slots_.begin(), slots_.end(), [](const SketchSlot& s) { return !s.empty(); }));
  }
  /// The free list, front first.
  std::vector<std::int32_t> free_list() const {
    std::vector<std::int32_t> out;
    for (Index i = 0; i < free_count_; ++i) out.push_back(free_[(free_head_ + i) % config_.hot_rows]);
    return out;
  }
  /// Every slot, [buckets x slots] row-major.
  std::span<const SketchSlot> slots() const { return slots_; }

  /// 12 B per slot + 4 B per hot row (the free list's ring).
  std::size_t bytes() const { return bytes_for(config_); }
  static std::size_t bytes_for(const HotSketchConfig& c) {
    return static_cast<std::size_t>(c.buckets * c.slots) * sizeof(SketchSlot) +
           static_cast<std::size_t>(c.hot_rows) * sizeof(std::int32_t);
  }

  /// Slots, free list (in FIFO order), running total and decay count; the configuration must
  /// match on load.
  void save(Writer& out) const {
    out.pod(config_.buckets);
    out.pod(config_.slots);
    out.pod(config_.hot_rows);
    out.bytes(slots_.data(), slots_.size() * sizeof(SketchSlot));
    const std::vector<std::int32_t> list = free_list();
    out.pod(static_cast<std::uint64_t>(list.size()));
    out.bytes(list.data(), list.size() * sizeof(std::int32_t));
    out.pod(inserted_);
    out.pod(decays_);
    if (config_.adaptive) {
      out.pod(threshold_);
      out.pod(adjustments_);
    }
    if (config_.half_life > 0.0) out.pod(gain_);
  }
  void load(Reader& in) {
    expect_equal(in, config_.buckets, "sketch buckets");
    expect_equal(in, config_.slots, "sketch slots per bucket");
    expect_equal(in, config_.hot_rows, "sketch hot rows");
    std::vector<SketchSlot> slots(slots_.size());
    in.bytes(slots.data(), slots.size() * sizeof(SketchSlot));
    const auto count = in.pod<std::uint64_t>();
    if (count > static_cast<std::uint64_t>(config_.hot_rows)) {
      throw CheckpointError("checkpoint damaged: sketch free list of " + std::to_string(count) +
                            " rows for " + std::to_string(config_.hot_rows) + " hot rows");
    }
    std::vector<std::int32_t> list(static_cast<std::size_t>(count));
    in.bytes(list.data(), list.size() * sizeof(std::int32_t));
    const auto inserted = in.pod<double>();
    const auto decays = in.pod<std::uint64_t>();
    float threshold = config_.threshold;
    std::uint64_t adjustments = 0;
    if (config_.adaptive) {
      threshold = in.pod<float>();
      adjustments = in.pod<std::uint64_t>();
      if (!(threshold > 0.0f) || !std::isfinite(threshold) ||
          (config_.half_life == 0.0 && threshold < config_.threshold)) {
        throw CheckpointError("checkpoint damaged: sketch threshold " + std::to_string(threshold) +
                              " below its start " + std::to_string(config_.threshold));
      }
    }
    double gain = 1.0;
    if (config_.half_life > 0.0) {
      gain = in.pod<double>();
      if (!(gain >= 1.0 && gain <= kRescaleGain * 2.0)) {
        throw CheckpointError("checkpoint damaged: sketch time-decay gain " + std::to_string(gain));
      }
    }
    check_consistent(slots, list);
    slots_ = std::move(slots);
    free_head_ = 0;
    free_count_ = static_cast<Index>(list.size());
    std::copy(list.begin(), list.end(), free_.begin());
    inserted_ = inserted;
    decays_ = decays;
    threshold_ = threshold;
    adjustments_ = adjustments;
    gain_ = gain;
    above_ = count_above();
  }

 private:
  SketchSlot* bucket(Index b) { return slots_.data() + b * config_.slots; }
  const SketchSlot* bucket(Index b) const { return slots_.data() + b * config_.slots; }

  static void check_id(std::uint64_t id) {
    if (id > std::numeric_limits<std::uint32_t>::max()) {
      throw InvalidArgument("HotSketch: id " + std::to_string(id) + " does not fit 32 bits");
    }
  }

  /// insert() of an id known to fit 32 bits. Slots are sorted by score, so empty slots (score 0)
  /// come last: one pass finds a hit or the first empty slot. (A layout of a bucket's ids,
  /// scores and hot rows side by side, probed and re-sorted with SSE2 and no branch on the
  /// scores, took 11-12 instead of 19-20 ns per insert of a uniform stream into 34 buckets, but
  /// made a Zipf(1.5) insert 12 -> 24 ns: most of those are hits on a bucket's first slot, which
  /// this scan finds at once.)
  std::int32_t insert_checked(std::uint32_t key, float score) {
    if (!(score > 0.0f) || !std::isfinite(score)) return -1;
    inserted_ += score;
    score = static_cast<float>(score * gain_);
    SketchSlot* b = bucket(bucket_of(key));
    const Index c = config_.slots;
    for (Index i = 0; i < c; ++i) {
      if (b[i].empty()) {
        b[i] = SketchSlot{key, score, -1};
        count_if_crossed(0.0f, score);
        sift_up(b, i);
        return -1;
      }
      if (b[i].id == key) return hit(b, i, score);
    }
    SketchSlot& minimum = b[c - 1];
    if (!minimum.hot()) {
      const float before = minimum.score;
      minimum = SketchSlot{key, before + score, -1};
      count_if_crossed(before, minimum.score);
      sift_up(b, c - 1);
    }
    return -1;
  }

  /// A slot's score went from `before` to `after` (>= before): keeps above_ counting the slots
  /// at or over the threshold.
  void count_if_crossed(float before, float after) {
    if (before < threshold_ && after >= threshold_) ++above_;
  }

  Index count_above() const {
    return static_cast<Index>(std::count_if(slots_.begin(), slots_.end(), [&](const SketchSlot& s) {
      return !s.empty() && s.score >= threshold_;
    }));
  }

  /// A stored score (or T) in current units.
  float current(float stored) const { return gain_ == 1.0 ? stored : static_cast<float>(stored / gain_); }

  /// half_life: one batch of time decay (the gain grows); every kRescaleGain the stored scores
  /// and T are divided by the gain. A score that reaches 0 empties its slot (freeing its row).
  void advance_time() {
    if (config_.half_life == 0.0) return;
    gain_ *= std::exp2(1.0 / config_.half_life);
    if (gain_ < kRescaleGain) return;
    for (Index b = 0; b < config_.buckets; ++b) {
      SketchSlot* slots = bucket(b);
      for (Index i = 0; i < config_.slots; ++i) {
        SketchSlot& s = slots[i];
        if (s.empty()) continue;
        s.score = static_cast<float>(s.score / gain_);
        if (s.score > 0.0f) continue;
        if (s.hot()) demote(s);
        s = SketchSlot{};  // the smallest scores come last: the bucket stays sorted
      }
    }
    threshold_ = std::max(static_cast<float>(threshold_ / gain_), std::numeric_limits<float>::min());
    gain_ = 1.0;
    above_ = count_above();
  }

  /// adaptive: T = the hot_rows-th largest score; hot slots below it are demoted (slot order).
  void raise_threshold() {
    scratch_scores_.clear();
    for (const SketchSlot& s : slots_) {
      if (!s.empty()) scratch_scores_.push_back(s.score);
    }
    const auto k = static_cast<std::ptrdiff_t>(config_.hot_rows) - 1;
    std::nth_element(scratch_scores_.begin(), scratch_scores_.begin() + k, scratch_scores_.end(),
                     std::greater<float>());
    threshold_ = std::max(threshold_, scratch_scores_[static_cast<std::size_t>(k)]);
    for (SketchSlot& s : slots_) {
      if (s.hot() && s.score < threshold_) demote(s);
    }
    above_ = count_above();
    ++adjustments_;
  }

  /// Slot i of bucket b holds the inserted id: add, promote, restore the order.
  std::int32_t hit(SketchSlot* b, Index i, float score) {
    SketchSlot& s = b[i];
    const float before = s.score;
    s.score += score;
    count_if_crossed(before, s.score);
    std::int32_t promoted = -1;
    if (s.score >= threshold_ && !s.hot() && free_count_ > 0) {
      s.hot_row = pop_free();
      promoted = s.hot_row;
    }
    sift_up(b, i);
    return promoted;
  }

  /// Moves slot i towards the front while its score exceeds its left neighbour's.
  static void sift_up(SketchSlot* b, Index i) {
    while (i > 0 && b[i].score > b[i - 1].score) {
      std::swap(b[i], b[i - 1]);
      --i;
    }
  }

  /// Slot s gives its hot row back to the end of the free list.
  void demote(SketchSlot& s) {
    push_free(s.hot_row);
    s.hot_row = -1;
  }

  std::int32_t pop_free() {
    const std::int32_t row = free_[free_head_];
    free_head_ = (free_head_ + 1) % config_.hot_rows;
    --free_count_;
    return row;
  }
  void push_free(std::int32_t row) {
    free_[(free_head_ + free_count_) % config_.hot_rows] = row;
    ++free_count_;
  }

  /// A loaded state must keep every bucket sorted by score (finite, >= 0, descending: inserts
  /// take the last slot for the minimum) and use every hot row exactly once (in a slot or on the
  /// free list).
  void check_consistent(const std::vector<SketchSlot>& slots,
                        const std::vector<std::int32_t>& list) const {
    for (std::size_t k = 0; k < slots.size(); ++k) {
      const float score = slots[k].score;
      const bool first_of_bucket = k % static_cast<std::size_t>(config_.slots) == 0;
      if (!(score >= 0.0f) || !std::isfinite(score) || (!first_of_bucket && score > slots[k - 1].score)) {
        throw CheckpointError("checkpoint damaged: sketch slot " + std::to_string(k) + " has score " +
                              std::to_string(score) + ", out of its bucket's descending order");
      }
    }
    std::vector<char> seen(static_cast<std::size_t>(config_.hot_rows), 0);
    const auto mark = [&](std::int32_t row) {
      if (row < 0 || row >= config_.hot_rows || seen[static_cast<std::size_t>(row)]) {
        throw CheckpointError("checkpoint damaged: sketch hot row " + std::to_string(row) +
                              " is out of range or used twice");
      }
      seen[static_cast<std::size_t>(row)] = 1;
    };
    for (const SketchSlot& s : slots) {
      if (s.hot()) mark(s.hot_row);
    }
    for (std::int32_t row : list) mark(row);
    if (std::find(seen.begin(), seen.end(), 0) != seen.end()) {
      throw CheckpointError("checkpoint damaged: a sketch hot row is neither used nor free");
    }
  }

  static constexpr double kRescaleGain = 65536.0;

  HotSketchConfig config_;
  float threshold_ = 0.0f;       // T now, stored units (config_.threshold unless adaptive moved it)
  double gain_ = 1.0;            // half_life: stored = current x gain_
  Index above_ = 0;              // non-empty slots with score >= threshold_
  std::uint64_t adjustments_ = 0;
  std::vector<float> scratch_scores_;
  bool fast_modulo_ = false;
  std::uint64_t modulo_multiplier_ = 0;
  std::vector<SketchSlot> slots_;
  std::vector<std::int32_t> free_;  // ring of capacity hot_rows
  Index free_head_ = 0;
  Index free_count_ = 0;
  double inserted_ = 0.0;
  std::uint64_t decays_ = 0;
};

}  // namespace embcomp
