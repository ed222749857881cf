// cafe's configuration and sizing (methods/cafe.hpp; spec cafe.md §2, §5): what a budget buys,
// decided before anything is allocated. docs/methods/cafe.md has the whole design.
//
// Budget B; fields with n_f <= full_below (auto: 2000 / ratio, the reference's "compressed only
// if n > 2000 CR") keep a full table. Each compressed field needs >= 1 hash row (one in all with
// a shared cold table), each level >= 1 row and each sketch >= 1 hot row; of the budget left
// after these minima, hash_share goes to the hash tables (per-field level-1 tables in
// proportion to n_f; cafe-ml gives level_share of it to levels 2..L, split equally) and the
// rest to hot rows, each costing its embedding (4d B), its sketch bucket (c x 12 B) and its
// free-list entry (4 B): the reference's 4d + 48 plus the free list it did not count.
//
// Layouts (option layout; hash_tables, hash_share, threshold and hash given explicitly win):
//   shared (default)  one cold hash table for every compressed field, hash_share 0.7, the
//                     per-ratio threshold;
//   reference         the paper's: per-field cold tables, the per-ratio hash share and
//                     threshold (cafe_schedule).
// The shared layout was chosen on validation AUC over 3 data seeds (README, CAFE section).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/sketch.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/sketch/hot_sketch.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// The reference's per-ratio choice of threshold and hash share (spec cafe.md §5, Criteo).
struct CafeSchedule {
  double threshold = 500.0;
  double hash_share = 0.5;
};

/// The schedule entry whose compression rate (1 / ratio) is nearest in log scale.
inline CafeSchedule cafe_schedule(double ratio) {
  static constexpr std::array<double, 12> kRate = {0.5,   0.2,   0.1,   0.05, 0.02, 0.01,
                                                   0.005, 0.002, 0.001, 5e-4, 2e-4, 1e-4};
  static constexpr std::array<double, 12> kThreshold = {10,  10,  20,  30,  50,  100,
                                                        200, 500, 500, 500, 500, 500};
  static constexpr std::array<double, 12> kHashShare = {.7, .5, .5, .5, .3, .3,
                                                        .2, .2, .2, .1, .1, .1};
  const double log_rate = std::log(1.0 / ratio);
  std::size_t best = 0;
  for (std::size_t i = 1; i < kRate.size(); ++i) {
    if (std::fabs(std::log(kRate[i]) - log_rate) < std::fabs(std::log(kRate[best]) - log_rate)) best = i;
  }
  return {kThreshold[best], kHashShare[best]};
}

/// The parsed options of cafe and cafe-ml.
struct CafeConfig {
  static constexpr Index kMaxLevels = 4;
  /// layout=shared's hash share (best of 0.3/0.5/0.7 on validation AUC, README).
  static constexpr double kSharedHashShare = 0.7;

  std::string method = "cafe";   ///< the registry key, for messages
  bool reference_layout = false; ///< layout=reference
  double threshold = 500.0;
  bool adaptive_threshold = false;  ///< threshold=adaptive: T starts at 1 and rises (CAFE+)
  double half_life = 0.0;        ///< adaptive only: the sketch's time decay in batches (0: none)
  double hash_share = 0.5;
  float decay = 0.99f;
  Index slots = 4;
  bool frequency = false;        ///< importance = 1 per occurrence instead of the gradient norm
  bool per_field_sketch = false;
  bool shared_hash_table = true;   ///< one level-1 hash table for every compressed field
  kernels::SketchHash sketch_hash = kernels::SketchHash::modulo;
  kernels::HashKind hash = kernels::HashKind::modulo;
  long long full_below = -1;     ///< -1: auto (2000 / ratio)
  Index levels = 1;              ///< hash levels for non-hot features (cafe: 1)
  double level_share = 0.0;      ///< share of the hash budget for levels 2..L
  double level_ratio = 0.2;      ///< T_{l+1} = level_ratio * T_l

  /// Fields with n_f <= this keep a full table, at compression `ratio`.
  long long full_threshold(double ratio) const {
    return full_below >= 0 ? full_below : static_cast<long long>(std::floor(2000.0 / ratio));
  }
  /// T_l for l = 2..levels (index l - 2).
  std::vector<float> level_thresholds() const {
    std::vector<float> t;
    double value = threshold;
    for (Index l = 2; l <= levels; ++l) t.push_back(static_cast<float>(value *= level_ratio));
    return t;
  }
};

/// The options cafe and cafe-ml share (cafe-ml adds its own: cafe_ml.hpp).
inline std::vector<OptionInfo> cafe_option_info() {
  return {{"layout", "shared",
           "shared (one cold hash table, hash_share 0.7) | reference (per-field cold tables, the "
           "per-ratio hash share: the paper's setting)"},
          {"threshold", "auto",
           "promotion score T; auto: the reference's per-ratio value; adaptive: starts at 1 and "
           "rises to the hot-row count's score (CAFE+)"},
          {"half_life", "0",
           "threshold=adaptive: scores and T halve every half_life batches (0: cumulative scores)"},
          {"hash_share", "auto",
           "share of the budget for hash tables in [0, 1); auto: 0.7 (shared), per ratio (reference)"},
          {"decay", "0.99", "sketch decay factor in (0, 1] (1 = no decay)"},
          {"slots", "4", "sketch slots per bucket"},
          {"importance", "gradient", "gradient (per-occurrence gradient norm) | frequency"},
          {"sketch", "shared", "shared (one sketch and hot table) | per_field"},
          {"sketch_hash", "modulo", "sketch bucket: modulo (reference) | multiplicative | xxhash"},
          {"hash", "modulo", "hash-table row: modulo (the reference's gid mod m) | xxhash"},
          {"hash_tables", "auto", "level-1 hash tables: auto (the layout's) | per_field | shared"},
          {"full_below", "auto", "fields with n_f <= this keep a full table; auto: 2000/ratio"}};
}

namespace cafe_detail {

inline void validate(const CafeConfig& c, Index min_levels) {
  const auto bad = [&](const std::string& what) {
    throw InvalidArgument("method '" + c.method + "': " + what);
  };
  if (!(c.threshold > 0.0) || !std::isfinite(c.threshold)) bad("threshold must be finite and > 0");
  if (!(c.hash_share >= 0.0 && c.hash_share < 1.0)) bad("hash_share must be in [0, 1)");
  if (!(c.decay > 0.0f && c.decay <= 1.0f)) bad("decay must be in (0, 1]");
  if (c.slots < 1 || c.slots > 64) bad("slots must be in [1, 64]");
  if (c.full_below < -1) bad("full_below must be >= 0 or auto");
  if (c.levels < min_levels || c.levels > CafeConfig::kMaxLevels) {
    bad("levels must be in [" + std::to_string(min_levels) + ", " +
        std::to_string(CafeConfig::kMaxLevels) + "]");
  }
  if (!(c.level_share >= 0.0 && c.level_share < 1.0)) bad("level_share must be in [0, 1)");
  if (!(c.level_ratio > 0.0 && c.level_ratio < 1.0)) bad("level_ratio must be in (0, 1)");
}

}  // namespace cafe_detail

/// The options of cafe (`multi_level` = false) or cafe-ml (true: reads levels, level_share and
/// level_ratio), resolved against the layout and the ratio of `args`.
inline CafeConfig parse_cafe_config(const Options& o, const TableArgs& args, bool multi_level) {
  CafeConfig c;
  c.method = o.key();
  c.reference_layout = o.pick<bool>("layout", {{"shared", false}, {"reference", true}});
  const CafeSchedule schedule = cafe_schedule(args.budget.ratio);
  const std::string& threshold = o.text("threshold");
  c.adaptive_threshold = threshold == "adaptive";
  c.threshold = threshold == "auto" ? schedule.threshold : c.adaptive_threshold ? 1.0 : o.number("threshold");
  if (c.adaptive_threshold) {
    c.half_life = o.non_negative("half_life");
  } else {
    o.not_applicable("half_life", "threshold=" + threshold + " (the time decay moves an adaptive threshold)");
  }
  const bool auto_share = o.text("hash_share") == "auto";
  c.hash_share = !auto_share          ? o.number("hash_share")
                 : c.reference_layout ? schedule.hash_share
                                      : CafeConfig::kSharedHashShare;
  c.decay = static_cast<float>(o.number("decay"));
  c.slots = static_cast<Index>(o.integer("slots"));
  c.frequency = o.pick<bool>("importance", {{"gradient", false}, {"frequency", true}});
  c.per_field_sketch = o.pick<bool>("sketch", {{"shared", false}, {"per_field", true}});
  c.shared_hash_table = o.text("hash_tables") == "auto"
                            ? !c.reference_layout
                            : o.pick<bool>("hash_tables", {{"per_field", false}, {"shared", true}});
  c.sketch_hash = o.pick<kernels::SketchHash>("sketch_hash",
                                              {{"modulo", kernels::SketchHash::modulo},
                                               {"multiplicative", kernels::SketchHash::multiplicative},
                                               {"xxhash", kernels::SketchHash::xxhash}});
  c.hash = pick_bucket_hash(o);
  c.full_below = o.text("full_below") == "auto" ? -1 : o.integer("full_below");
  if (multi_level) {
    c.levels = static_cast<Index>(o.integer("levels"));
    c.level_share = o.number("level_share");
    c.level_ratio = o.number("level_ratio");
  }
  cafe_detail::validate(c, multi_level ? 2 : 1);
  return c;
}

/// Where each field's rows are and how many hot rows each sketch has: the sizing decision.
struct CafePlan {
  struct Field {
    bool full = false;       ///< a full (unhashed) table
    Index base = 0;          ///< first row in "rows"
    Index rows = 0;          ///< m_f
    Index offset = 0;        ///< global id offset
    std::uint64_t seed = 0;  ///< hash=xxhash seed of this field's table
    Index sketch = -1;       ///< index of its sketch (compressed fields)
    std::uint64_t modulo_multiplier = 0;  ///< kernels::fastmod32_multiplier(rows)
  };
  std::vector<Field> fields;
  Index table_rows = 0;               ///< rows of "rows"
  std::vector<Index> sketch_rows;     ///< hot rows of each sketch (= its buckets)
  std::vector<Index> sketch_base;     ///< first hot-table row of each sketch
  Index hot_rows = 0;                 ///< rows of "hot"
  std::vector<Index> level_rows;      ///< M_l of levels 2..L
  std::size_t serving_bytes = 0;
};

namespace cafe_detail {

/// Bytes of one hot row with its sketch bucket and free-list entry.
inline double hot_row_bytes(const Schema& s, const CafeConfig& c) {
  return static_cast<double>(s.dim) * 4.0 + static_cast<double>(c.slots * 12 + 4);
}

/// Smallest serving size when fields with n_f <= keep_below stay full.
inline double min_bytes(const Schema& s, const CafeConfig& c, long long keep_below) {
  const double row = static_cast<double>(s.dim) * 4.0;
  double bytes = 0.0;
  Index compressed = 0;
  for (Index n : s.cardinalities) {
    if (n <= keep_below) bytes += static_cast<double>(n) * row;
    else ++compressed;
  }
  if (compressed == 0) return bytes;
  const double sketches = c.per_field_sketch ? static_cast<double>(compressed) : 1.0;
  const double tables = c.shared_hash_table ? 1.0 : static_cast<double>(compressed);
  return bytes + (tables + static_cast<double>(c.levels - 1)) * row + sketches * hot_row_bytes(s, c);
}

/// Hot rows from `left` bytes: shared, or per compressed field in proportion to n_f (each
/// sketch >= 1 row); never more rows than the ids they serve.
inline void plan_hot_rows(const Schema& s, const CafeConfig& c, long long keep_below, double left,
                          Index compressed_ids, CafePlan& plan) {
  const Index total = std::min<Index>(
      compressed_ids, static_cast<Index>(std::floor(left / hot_row_bytes(s, c))));
  if (!c.per_field_sketch) {
    plan.sketch_rows.push_back(total);
  } else {
    Index compressed = 0;
    for (Index n : s.cardinalities) compressed += n > keep_below ? 1 : 0;
    for (Index n : s.cardinalities) {
      if (n <= keep_below) continue;
      const double share = static_cast<double>(total - compressed) * static_cast<double>(n) /
                           static_cast<double>(compressed_ids);
      plan.sketch_rows.push_back(std::min<Index>(n, 1 + static_cast<Index>(std::floor(share))));
    }
  }
  Index sketch = 0;
  for (CafePlan::Field& f : plan.fields) {
    if (!f.full) f.sketch = c.per_field_sketch ? sketch++ : 0;
  }
  for (Index h : plan.sketch_rows) {
    plan.sketch_base.push_back(plan.hot_rows);
    plan.hot_rows += h;
  }
}

}  // namespace cafe_detail

/// The highest ratio whose budget holds the smallest form. With full_below=auto the set of
/// full fields shrinks as the ratio R grows (field f stays full while R <= 2000 / n_f), so R is
/// cut into ranges (lo, hi] with one set each; within a range R is feasible up to
/// full_bytes / min_bytes of its set.
inline double cafe_highest_ratio(const Schema& s, const CafeConfig& c) {
  if (c.full_below >= 0) return s.full_bytes() / cafe_detail::min_bytes(s, c, c.full_below);
  std::vector<double> cuts = {1.0};
  for (Index n : s.cardinalities) {
    if (2000.0 / static_cast<double>(n) > 1.0) cuts.push_back(2000.0 / static_cast<double>(n));
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(std::numeric_limits<double>::infinity());
  double best = 0.0;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const double lo = cuts[i], hi = cuts[i + 1];
    if (!(hi > lo)) continue;
    const long long keep = std::isinf(hi) ? 0 : static_cast<long long>(std::floor(2000.0 / hi + 1e-9));
    const double top = std::min(hi, s.full_bytes() / cafe_detail::min_bytes(s, c, keep));
    if (top > lo || (i == 0 && top >= lo)) best = std::max(best, top);
  }
  return best;
}

/// The rows of every table and sketch for `args`' budget; throws InfeasibleBudget naming the
/// highest ratio when the smallest form does not fit.
/// The InfeasibleBudget of a ratio whose full fields (n_f <= keep_below) and minimal
/// compressed form take `needed` bytes. Feasibility is not monotone in the ratio with
/// full_below=auto: a low ratio keeps more fields full, so it can fail where a higher one fits;
/// the message then says why and what fits.
[[noreturn]] inline void throw_cafe_infeasible(const TableArgs& args, const CafeConfig& c,
                                               long long keep_below, double needed) {
  const double highest = cafe_highest_ratio(args.schema, c);
  if (!(highest > args.budget.ratio)) throw_infeasible(c.method, args.schema.full_bytes() / highest, args);
  const auto bytes = [](double b) { return std::to_string(static_cast<long long>(b)); };
  throw InfeasibleBudget(
      c.method + ": ratio " + std::to_string(args.budget.ratio) + "x allows " +
          bytes(args.budget.bytes(args.schema)) + " B, but the fields of at most " +
          std::to_string(keep_below) + " ids stay full (full_below" +
          (c.full_below < 0 ? "=auto, 2000 / ratio" : "") + ") and need " + bytes(needed) +
          " B with the rest at their smallest; a higher ratio keeps fewer fields full and fits "
          "(up to " + std::to_string(highest) + "x), as does a lower full_below",
      highest);
}

inline CafePlan plan_cafe(const TableArgs& args, const CafeConfig& c) {
  const Schema& s = args.schema;
  if (s.total_rows() > static_cast<Index>(std::numeric_limits<std::uint32_t>::max())) {
    throw InvalidArgument("method '" + c.method + "': global ids must fit 32 bits (the sketch's id field); "
                          "the schema has " + std::to_string(s.total_rows()) + " ids");
  }
  const long long keep_below = c.full_threshold(args.budget.ratio);
  const double budget = args.budget.bytes(s);
  const double needed = cafe_detail::min_bytes(s, c, keep_below);
  if (needed > budget) throw_cafe_infeasible(args, c, keep_below, needed);

  CafePlan plan;
  const double row = static_cast<double>(s.dim) * 4.0;
  Index compressed_ids = 0, compressed = 0;
  for (Index n : s.cardinalities) {
    if (n > keep_below) compressed_ids += n, ++compressed;
  }
  const double spare = budget - needed;
  const double hash_spare = c.hash_share * spare;
  const double level_spare = c.levels > 1 ? c.level_share * hash_spare : 0.0;
  const double level1_spare = hash_spare - level_spare;
  double used = 0.0;
  for (Index f = 0; f < s.num_fields(); ++f) {
    const Index n = s.cardinalities[f];
    CafePlan::Field field;
    field.full = n <= keep_below;
    field.base = plan.table_rows;
    field.offset = s.field_offset(f);
    field.seed = kernels::combine(args.seed, static_cast<std::uint64_t>(f) + 1);
    field.rows = field.full ? n
                            : std::min<Index>(n, 1 + static_cast<Index>(std::floor(
                                                         level1_spare * static_cast<double>(n) /
                                                         (row * static_cast<double>(compressed_ids)))));
    if (!field.full && c.shared_hash_table) field.rows = 0;  // placed below
    plan.table_rows += field.rows;
    used += static_cast<double>(field.rows) * row;
    plan.fields.push_back(field);
  }
  if (c.shared_hash_table && compressed > 0) {
    // One table after the full ones: every compressed field's gid mod M.
    const Index m = std::min<Index>(compressed_ids, 1 + static_cast<Index>(std::floor(level1_spare / row)));
    for (CafePlan::Field& field : plan.fields) {
      if (!field.full) field.base = plan.table_rows, field.rows = m;
    }
    plan.table_rows += m;
    used += static_cast<double>(m) * row;
  }
  for (CafePlan::Field& field : plan.fields) {
    field.modulo_multiplier = kernels::fastmod32_multiplier(static_cast<std::uint32_t>(field.rows));
  }
  for (Index l = 2; l <= c.levels && compressed > 0; ++l) {
    const Index m = std::min<Index>(
        compressed_ids,
        1 + static_cast<Index>(std::floor(level_spare / static_cast<double>(c.levels - 1) / row)));
    plan.level_rows.push_back(m);
    used += static_cast<double>(m) * row;
  }
  if (compressed > 0) cafe_detail::plan_hot_rows(s, c, keep_below, budget - used, compressed_ids, plan);
  plan.serving_bytes = static_cast<std::size_t>(used) +
                       static_cast<std::size_t>(plan.hot_rows) * static_cast<std::size_t>(s.dim) * 4;
  for (Index h : plan.sketch_rows) {
    plan.serving_bytes += HotSketch::bytes_for({h, c.slots, h, 1.0f, 1.0f, c.sketch_hash, 0});
  }
  return plan;
}

}  // namespace embcomp
