// cafe: HotSketch + hot/hash embedding tables (spec cafe.md §1, §2, §4, §7; Zhang et al.,
// SIGMOD 2024). A HotSketch tracks feature importance; features whose score reaches the
// threshold T get their own row in a shared hot table, every other feature of a compressed field
// shares a row of its field's hash table. cafe-ml (cafe_ml.hpp) adds multi-level hash tables for
// the non-hot features (spec §3); both are this class, cafe being the one-level case.
//
// Storage (row-major fp32 Parameters):
//   "rows"      [sum_f m_f x d]  field f's rows at base_f: the full table (m_f = n_f) of a field
//                                with n_f <= full_below, else its level-1 hash table
//   "hot"       [H x d]          the hot table (absent when no field is compressed)
//   "level<l>"  [M_l x d]        cafe-ml only, l = 2..L: shared level-l hash tables
//   sketches    one HotSketch (w = H buckets of c slots, 12 B per slot, plus the free list) or,
//               with sketch=per_field, one per compressed field with its own hot-row range.
//
// Lookup of local id x in compressed field f, gid = field offset + x:
//   q = sketch.query(gid)
//   hot:  out = hot[base_s + q.hot_row]
//   else: out = rows[base_f + bucket(gid, m_f)] + sum_{l=2..k} level_l[bucket(gid, M_l)],
//         k = 1 + #{l in 2..L : q.score >= T_l}, T_l = T * level_ratio^(l-1)  (cafe: k = 1)
// bucket(): hash=modulo (default, the reference's gid mod m) or xxhash (kernels/bucket.hpp).
//
// Sizing (spec §2): budget B; fields with n_f <= full_below (auto: 2000 / ratio, the reference's
// "compressed only if n > 2000 CR") keep a full table. Each compressed field needs >= 1 hash row,
// each level >= 1 row and each sketch >= 1 hot row; of the budget left after these minima,
// hash_share goes to the hash tables (level-1 tables in proportion to n_f; cafe-ml gives
// level_share of it to levels 2..L, split equally) and the rest to hot rows, each costing its
// embedding (4d B), its sketch bucket (c x 12 B) and its free-list entry (4 B): the reference's
// 4d + 48 plus the free list it did not count. threshold and hash_share default to the
// reference's per-ratio schedule (cafe_schedule). hash_tables=shared replaces the per-field
// level-1 tables by one table of M rows for every compressed field (gid mod M): at extreme
// ratios on schemas with many fields, per-field tables shrink to one row per field.
//
// One training step (trainer order: forward, backward, optimizer step, after_step):
//   forward      lookup, keeping each position's route (its sketch answer) for backward
//   backward     gradients of the rows each position read (forward's routes; routed again when
//                backward follows a plain lookup, other ids, or a sketch change), and the
//                per-occurrence importance ||dE_p|| (importance=frequency: 1), kept for after_step
//   after_step   per compressed field, in field order: s_p = N ||g_p|| / sum_b ||g_b|| over the
//                field's N positions; sketch.insert_batch (a decay check first, then Space-Saving
//                inserts with promotion); then every newly hot feature's hot row receives a copy
//                of the embedding the feature was actually read with in this batch (its summed
//                hash rows, or its old hot row when it was demoted and promoted again).
//   Differences from spec §4: the insert and the copy come after the optimizer step (the
//   trainer's after_step hook), so the copy includes this batch's update of the hash row, which
//   the reference's copy (taken before the step) loses; and the copy reads the row the feature
//   actually used (the reference read E_hash[local id mod size] while lookups used the global
//   id: the wrong row for every field but the first, its pitfall).
//   Optimizer state: on promotion the hot row's optimizer state (Adagrad's accumulator, Adam's
//   moments) is overwritten with the state of the hash row it was copied from (its level-1 row
//   in cafe-ml, its old hot row when re-promoted), so value and state move together and a row
//   reassigned by the free list never carries a previous feature's stale state. This needs
//   StepContext::optimizer; without it (null) only the values are copied. On demotion nothing is
//   written: the feature returns to its hash row (value and state as the hash row has them) and
//   the freed row is overwritten when it is next assigned.
// Evaluation and serving only query the sketch. save/load and freeze() keep the sketches and
// their free lists (the reference's checkpoints dropped them).
//
// Deviations: hot rows are 0-based (the reference never handed out row 0); init of "rows" and
// "hot" is U(+-1/sqrt(max n_f)) (the reference used 1/sqrt(n_f) for hash rows), levels >= 2
// start at 0 so a feature that becomes medium keeps its embedding at first.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/norm.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/kernels/sketch.hpp"
#include "embcomp/optim/optimizer.hpp"
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

  std::string method = "cafe";   ///< the registry key, for messages
  double threshold = 500.0;
  bool adaptive_threshold = false;  ///< threshold=adaptive: T starts at 1 and rises (CAFE+)
  double hash_share = 0.5;
  float decay = 0.99f;
  Index slots = 4;
  bool frequency = false;        ///< importance = 1 per occurrence instead of the gradient norm
  bool per_field_sketch = false;
  bool shared_hash_table = false;  ///< one level-1 hash table for every compressed field
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

class CafeTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "cafe";
  static constexpr const char* kSummary =
      "HotSketch tracks importance; hot features get own rows, the rest per-field hash rows";
  static std::vector<OptionInfo> option_info() {
    return {{"threshold", "auto",
             "promotion score T; auto: the reference's per-ratio value; adaptive: starts at 1 and "
             "rises to the hot-row count's score (CAFE+)"},
            {"hash_share", "auto", "share of the budget for hash tables in [0, 1); auto: per ratio"},
            {"decay", "0.99", "sketch decay factor in (0, 1] (1 = no decay)"},
            {"slots", "4", "sketch slots per bucket"},
            {"importance", "gradient", "gradient (per-occurrence gradient norm) | frequency"},
            {"sketch", "shared", "shared (one sketch and hot table) | per_field"},
            {"sketch_hash", "modulo", "sketch bucket: modulo (reference) | multiplicative | xxhash"},
            {"hash", "modulo", "hash-table row: modulo (reference, gid mod m) | xxhash"},
            {"hash_tables", "per_field", "level-1 hash tables: per_field (reference) | shared"},
            {"full_below", "auto", "fields with n_f <= this keep a full table; auto: 2000/ratio"}};
  }

  CafeTable(const TableArgs& args, const Options& options)
      : CafeTable(args, parse(options, args.budget.ratio, false)) {}

  const CafeConfig& config() const { return config_; }
  const CafePlan& plan() const { return plan_; }
  Index sketch_count() const { return static_cast<Index>(sketches_.size()); }
  const HotSketch& sketch(Index i) const { return sketches_[static_cast<std::size_t>(i)]; }
  /// The sketch answer for local id `id` of field f (cold for a full field).
  SketchQuery query(Index field, Index id) const {
    const CafePlan::Field& f = plan_.fields[field];
    if (f.full) return {};
    return sketches_[static_cast<std::size_t>(f.sketch)].query(gid(f, id));
  }
  /// Hot-table row of (field, local id), or -1 when it is cold.
  Index hot_row_of(Index field, Index id) const { return route(field, id).hot; }
  /// Level-1 row ("rows" parameter) of (field, local id): the row it reads whenever it is cold.
  Index hash_row_of(Index field, Index id) const {
    const CafePlan::Field& f = plan_.fields[field];
    return f.full ? f.base + id : f.base + hash_row(f, gid(f, id));
  }
  /// Hash levels a cold (field, id) sums now (0 when hot).
  Index levels_of(Index field, Index id) const { return route(field, id).levels; }

  /// hot_rows, hot_rows_in_use, tracked_ids (occupied sketch slots), sketch_decays: summed over
  /// the sketches; threshold: the highest sketch threshold now (threshold=adaptive raises it).
  /// A hot table far from full means T is high for the data seen so far.
  std::vector<TableStatistic> statistics() const override {
    double in_use = 0.0, tracked = 0.0, decays = 0.0, threshold = 0.0;
    for (const HotSketch& s : sketches_) {
      in_use += static_cast<double>(s.hot_count());
      tracked += static_cast<double>(s.tracked_count());
      decays += static_cast<double>(s.decays());
      threshold = std::max(threshold, static_cast<double>(s.threshold()));
    }
    return {{"hot_rows", static_cast<double>(plan_.hot_rows)},
            {"hot_rows_in_use", in_use},
            {"tracked_ids", tracked},
            {"sketch_decays", decays},
            {"threshold", threshold}};
  }

  /// Importance insert, promotion and migration of the last backward batch (see the top).
  void after_step(const StepContext& ctx) override {
    if (!pending_) return;
    pending_ = false;
    ++sketch_version_;
    insert_importance();
    migrate(ctx.optimizer);
  }

 protected:
  CafeTable(const TableArgs& args, CafeConfig config)
      : EmbeddingTable(args), config_(config), plan_(make_plan(args, config_)) {
    rows_ = &add_parameter("rows", plan_.table_rows, args.schema.dim, ParamKind::rows);
    rows_->fill_uniform(default_init_bound(args.schema), args.seed);
    if (plan_.hot_rows > 0) {
      hot_ = &add_parameter("hot", plan_.hot_rows, args.schema.dim, ParamKind::rows);
      hot_->fill_uniform(default_init_bound(args.schema), kernels::combine(args.seed, 0x407ULL));
    }
    for (std::size_t l = 0; l < plan_.level_rows.size(); ++l) {
      levels_.push_back(&add_parameter("level" + std::to_string(l + 2), plan_.level_rows[l],
                                       args.schema.dim, ParamKind::rows));
    }
    level_thresholds_ = config_.level_thresholds();
    for (std::size_t l = 0; l < level_thresholds_.size(); ++l) {
      level_seeds_.push_back(kernels::combine(args.seed, 0x1e7e1ULL + l));
    }
    for (std::size_t s = 0; s < plan_.sketch_rows.size(); ++s) {
      sketches_.emplace_back(HotSketchConfig{plan_.sketch_rows[s], config_.slots, plan_.sketch_rows[s],
                                             static_cast<float>(config_.threshold), config_.decay,
                                             config_.sketch_hash, kernels::combine(args.seed, s),
                                             config_.adaptive_threshold});
    }
    for (std::size_t s = 0; s < sketches_.size(); ++s) {  // after the last emplace: stable
      add_index_state("sketch" + std::to_string(s), sketches_[s]);
    }
  }

  /// Options common to cafe and cafe-ml; `multi_level` reads levels, level_share, level_ratio.
  static CafeConfig parse(const Options& o, double ratio, bool multi_level) {
    CafeConfig c;
    c.method = o.key();
    const CafeSchedule schedule = cafe_schedule(ratio);
    const std::string& threshold = o.text("threshold");
    c.adaptive_threshold = threshold == "adaptive";
    c.threshold = threshold == "auto" ? schedule.threshold : c.adaptive_threshold ? 1.0 : o.number("threshold");
    c.hash_share = o.text("hash_share") == "auto" ? schedule.hash_share : o.number("hash_share");
    c.decay = static_cast<float>(o.number("decay"));
    c.slots = static_cast<Index>(o.integer("slots"));
    c.frequency = o.pick<bool>("importance", {{"gradient", false}, {"frequency", true}});
    c.per_field_sketch = o.pick<bool>("sketch", {{"shared", false}, {"per_field", true}});
    c.shared_hash_table = o.pick<bool>("hash_tables", {{"per_field", false}, {"shared", true}});
    c.sketch_hash = o.pick<kernels::SketchHash>("sketch_hash",
                                                {{"modulo", kernels::SketchHash::modulo},
                                                 {"multiplicative", kernels::SketchHash::multiplicative},
                                                 {"xxhash", kernels::SketchHash::xxhash}});
    c.hash = o.pick<kernels::HashKind>(
        "hash", {{"modulo", kernels::HashKind::modulo}, {"xxhash", kernels::HashKind::xxhash}});
    c.full_below = o.text("full_below") == "auto" ? -1 : o.integer("full_below");
    if (multi_level) {
      c.levels = static_cast<Index>(o.integer("levels"));
      c.level_share = o.number("level_share");
      c.level_ratio = o.number("level_ratio");
    }
    validate(c, multi_level ? 2 : 1);
    return c;
  }

  void lookup_impl(const IdBatch& ids, Matrix out) const override { read(ids, &out, nullptr); }

  /// lookup_impl, keeping every position's route for the backward of the same ids.
  void forward_impl(const IdBatch& ids, Matrix out) override {
    read(ids, &out, &forwarded_);
    forwarded_fields_ = ids.fields;
    forwarded_version_ = sketch_version_;
  }

  /// Per position: the primary row it read (a "rows" row, or table_rows + its hot row), its
  /// hash levels and global id (the routes forward kept, or routed again when backward follows a
  /// plain lookup or other ids), and its importance ||dE_p||, kept for after_step. Gradients: one
  /// RowGroups over the primary rows (the same work as a plain hash table's backward), its unique
  /// rows split between "rows" and "hot"; medium positions of cafe-ml add dE_p to their level
  /// rows too.
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    if (importance_and_forwarded(ids, dE)) {
      std::swap(routes_, forwarded_);
      forwarded_version_ = ~std::uint64_t{0};
    } else {
      read(ids, nullptr, &routes_);
    }
    const Index d = dim();
    primary_groups_.build(routes_.primary);
    unique_values_.assign(static_cast<std::size_t>(primary_groups_.unique_count() * d), 0.0f);
    primary_groups_.sum_rows(d, dE.data, unique_values_.data());
    batch_ = ids.batch;
    fields_ = ids.fields;
    split_primary(grads);
    if (routes_.extra_level) add_level_grads(dE, grads);
    pending_ = true;
  }

  /// A loaded state replaces the sketches: forget the insert pending from the last backward
  /// and the routes forward kept.
  void on_state_loaded() override {
    pending_ = false;
    ++sketch_version_;
  }

 private:
  /// The rows one lookup reads: a hot row, or `levels` hash rows (row[0] in "rows", row[l] in
  /// level l + 1) summed.
  struct Route {
    Index hot = -1;
    Index levels = 1;
    std::array<Index, CafeConfig::kMaxLevels> row{};
  };

  /// Rows and positions that read them, for one level table.
  struct Scatter {
    std::vector<Index> rows, positions;
    kernels::RowGroups groups;
  };

  /// An item promoted in after_step: the batch position it came from and its hot-table row.
  struct Promotion {
    Index position = 0;
    Index hot = 0;
  };

  static void validate(const CafeConfig& c, Index min_levels) {
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

  /// Bytes of one hot row with its sketch bucket and free-list entry.
  static double hot_row_bytes(const Schema& s, const CafeConfig& c) {
    return static_cast<double>(s.dim) * 4.0 + static_cast<double>(c.slots * 12 + 4);
  }

  /// Smallest serving size when fields with n_f <= keep_below stay full; `compressed` receives
  /// the number of compressed fields.
  static double min_bytes(const Schema& s, const CafeConfig& c, long long keep_below) {
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

  /// The highest ratio whose budget holds the smallest form. With full_below=auto the set of
  /// full fields shrinks as the ratio R grows (field f stays full while R <= 2000 / n_f), so R
  /// is cut into ranges (lo, hi] with one set each; within a range R is feasible up to
  /// full_bytes / min_bytes of its set.
  static double highest_ratio(const Schema& s, const CafeConfig& c) {
    if (c.full_below >= 0) return s.full_bytes() / min_bytes(s, c, c.full_below);
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
      const double top = std::min(hi, s.full_bytes() / min_bytes(s, c, keep));
      if (top > lo || (i == 0 && top >= lo)) best = std::max(best, top);
    }
    return best;
  }

  static CafePlan make_plan(const TableArgs& args, const CafeConfig& c) {
    const Schema& s = args.schema;
    if (s.total_rows() > static_cast<Index>(std::numeric_limits<std::uint32_t>::max())) {
      throw InvalidArgument("method '" + c.method + "': global ids must fit 32 bits (the sketch's id field); "
                            "the schema has " + std::to_string(s.total_rows()) + " ids");
    }
    const long long keep_below = c.full_threshold(args.budget.ratio);
    const double budget = args.budget.bytes(s);
    const double needed = min_bytes(s, c, keep_below);
    if (needed > budget) throw_infeasible(c.method, s.full_bytes() / highest_ratio(s, c), args);

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
    if (compressed > 0) plan_hot_rows(s, c, keep_below, budget - used, compressed_ids, plan);
    plan.serving_bytes = static_cast<std::size_t>(used) +
                         static_cast<std::size_t>(plan.hot_rows) * static_cast<std::size_t>(s.dim) * 4;
    for (Index h : plan.sketch_rows) {
      plan.serving_bytes += HotSketch::bytes_for({h, c.slots, h, 1.0f, 1.0f, c.sketch_hash, 0});
    }
    return plan;
  }

  /// Hot rows from `left` bytes: shared, or per compressed field in proportion to n_f (each
  /// sketch >= 1 row); never more rows than the ids they serve.
  static void plan_hot_rows(const Schema& s, const CafeConfig& c, long long keep_below, double left,
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

  std::uint64_t gid(const CafePlan::Field& f, Index id) const {
    return static_cast<std::uint64_t>(f.offset + id);
  }

  /// The route of every position of a batch.
  struct Routes {
    std::vector<Index> primary;         ///< "rows" row, or table_rows + hot row
    std::vector<std::uint8_t> levels;   ///< hash levels summed (0: hot)
    std::vector<std::uint64_t> gids;    ///< global ids
    bool extra_level = false;           ///< some position sums more than one level
  };

  /// Routes every position of `ids` through the sketches as they are now, writing its embedding
  /// to `out` (unless null) and its route to `routes` (unless null).
  void read(const IdBatch& ids, Matrix* out, Routes* routes) const {
    const Index F = ids.fields, d = dim();
    Index* primary = nullptr;
    std::uint8_t* levels = nullptr;
    std::uint64_t* gids = nullptr;
    if (routes != nullptr) {
      const auto n = static_cast<std::size_t>(ids.size());
      routes->primary.resize(n), routes->levels.resize(n), routes->gids.resize(n);
      primary = routes->primary.data(), levels = routes->levels.data(), gids = routes->gids.data();
    }
    bool extra_level = false;
#pragma omp parallel for schedule(static) reduction(|| : extra_level) if (ids.size() > 2048)
    for (Index b = 0; b < ids.batch; ++b) {
      for (Index f = 0; f < F; ++f) {
        const Index p = b * F + f;
        const Route r = route(f, ids[p]);
        if (out != nullptr) embedding(r, out->row(p), d);
        if (routes != nullptr) {
          primary[p] = r.hot >= 0 ? plan_.table_rows + r.hot : r.row[0];
          levels[p] = static_cast<std::uint8_t>(r.levels);
          gids[p] = static_cast<std::uint64_t>(plan_.fields[f].offset + ids[p]);
          extra_level = extra_level || r.levels > 1;
        }
      }
    }
    if (routes != nullptr) routes->extra_level = extra_level;
  }

  /// norms_[p] = ||dE_p|| (importance=frequency: 1) for every position; returns whether
  /// forward's routes belong to `ids` under the sketches as they are now (same field count,
  /// sketch version and global id at every position; the gid check rides along the norm pass).
  bool importance_and_forwarded(const IdBatch& ids, ConstMatrix dE) {
    const Index n = ids.size(), F = ids.fields, d = dim();
    norms_.resize(static_cast<std::size_t>(n));
    const bool candidate = forwarded_version_ == sketch_version_ && forwarded_fields_ == F &&
                           forwarded_.gids.size() == static_cast<std::size_t>(n);
    const std::uint64_t* forwarded_gids = forwarded_.gids.data();
    bool same = candidate;
#pragma omp parallel for schedule(static) reduction(&& : same) if (n > 4096)
    for (Index b = 0; b < ids.batch; ++b) {
      for (Index f = 0; f < F; ++f) {
        const Index p = b * F + f;
        norms_[p] = config_.frequency ? 1.0f : kernels::l2_norm(dE.row(p), d);
        if (candidate) {
          same = same && forwarded_gids[p] == static_cast<std::uint64_t>(plan_.fields[f].offset + ids[p]);
        }
      }
    }
    return same;
  }

  /// The rows (field, local id) reads now.
  Route route(Index field, Index id) const {
    const CafePlan::Field& f = plan_.fields[field];
    if (f.full) return cold_route(f.base + id, 1, 0);
    const std::uint64_t key = gid(f, id);
    const SketchQuery q = sketches_[static_cast<std::size_t>(f.sketch)].query(key);
    if (q.hot()) {
      Route r;
      r.hot = plan_.sketch_base[static_cast<std::size_t>(f.sketch)] + q.hot_row;
      r.levels = 0;
      return r;
    }
    // Level thresholds follow the sketch's T when adaptive raises it (a factor of exactly 1
    // otherwise).
    const float scale = config_.adaptive_threshold
                            ? sketches_[static_cast<std::size_t>(f.sketch)].threshold() /
                                  static_cast<float>(config_.threshold)
                            : 1.0f;
    Index levels = 1;
    while (levels - 1 < static_cast<Index>(level_thresholds_.size()) &&
           q.score >= level_thresholds_[static_cast<std::size_t>(levels - 1)] * scale) {
      ++levels;
    }
    return cold_route(f.base + hash_row(f, key), levels, key);
  }

  /// Row of global id `key` in field f's hash table: kernels::bucket (gid mod m_f for
  /// hash=modulo, computed by multiply-shift since ids fit 32 bits).
  Index hash_row(const CafePlan::Field& f, std::uint64_t key) const {
    if (config_.hash == kernels::HashKind::modulo) {
      return kernels::fastmod32(static_cast<std::uint32_t>(key), f.modulo_multiplier,
                                static_cast<std::uint32_t>(f.rows));
    }
    return static_cast<Index>(kernels::bucket(key, static_cast<std::uint64_t>(f.rows), f.seed, config_.hash));
  }

  /// The route of a cold id: level-1 row `row`, and its rows of levels 2 .. `levels`.
  Route cold_route(Index row, Index levels, std::uint64_t key) const {
    Route r;
    r.row[0] = row;
    r.levels = levels;
    for (Index l = 1; l < levels; ++l) {
      const auto i = static_cast<std::size_t>(l - 1);
      r.row[l] = static_cast<Index>(kernels::bucket(key, static_cast<std::uint64_t>(plan_.level_rows[i]),
                                                    level_seeds_[i], config_.hash));
    }
    return r;
  }

  /// The route position p of the last backward batch was read with.
  Route route_at_lookup(Index p) const {
    if (routes_.primary[p] >= plan_.table_rows) {
      Route r;
      r.hot = routes_.primary[p] - plan_.table_rows;
      r.levels = 0;
      return r;
    }
    return cold_route(routes_.primary[p], routes_.levels[p], routes_.gids[p]);
  }

  /// out[d] = the embedding `r` reads.
  void embedding(const Route& r, float* out, Index d) const {
    if (r.hot >= 0) {
      std::copy_n(hot_->row(r.hot), d, out);
      return;
    }
    std::copy_n(rows_->row(r.row[0]), d, out);
    for (Index l = 1; l < r.levels; ++l) {
      const float* extra = levels_[static_cast<std::size_t>(l - 1)]->row(r.row[l]);
      for (Index c = 0; c < d; ++c) out[c] += extra[c];
    }
  }

  /// The summed unique primary rows, split into the sparse gradients of "rows" and "hot".
  void split_primary(Gradients& grads) {
    const Index d = dim(), unique = primary_groups_.unique_count();
    const std::vector<Index>& rows = primary_groups_.rows();
    Index hot_count = 0;
    for (Index r : rows) hot_count += r >= plan_.table_rows ? 1 : 0;
    // Both entries exist before references are taken (adding one may move the other).
    grads.sparse_for(*rows_, unique - hot_count);
    SparseGrad* hot = hot_ != nullptr ? &grads.sparse_for(*hot_, hot_count) : nullptr;
    SparseGrad& cold = grads.sparse_for(*rows_, unique - hot_count);
    Index c = 0, h = 0;
    for (Index u = 0; u < unique; ++u) {
      const float* values = unique_values_.data() + u * d;
      if (rows[u] >= plan_.table_rows) {
        hot->rows[h] = rows[u] - plan_.table_rows;
        std::copy_n(values, d, hot->row(h++));
      } else {
        cold.rows[c] = rows[u];
        std::copy_n(values, d, cold.row(c++));
      }
    }
  }

  /// Level l >= 2 rows of the positions that read them: dE_p summed per unique row.
  void add_level_grads(ConstMatrix dE, Gradients& grads) {
    const Index n = static_cast<Index>(routes_.primary.size()), d = dim();
    level_scatter_.resize(levels_.size());
    for (Scatter& s : level_scatter_) s.rows.clear(), s.positions.clear();
    for (Index p = 0; p < n; ++p) {
      if (routes_.levels[p] <= 1) continue;
      const Route r = route_at_lookup(p);
      for (Index l = 1; l < r.levels; ++l) {
        level_scatter_[static_cast<std::size_t>(l - 1)].rows.push_back(r.row[l]);
        level_scatter_[static_cast<std::size_t>(l - 1)].positions.push_back(p);
      }
    }
    for (std::size_t l = 0; l < levels_.size(); ++l) {
      Scatter& s = level_scatter_[l];
      scatter_param_grad(*levels_[l], s.rows, s.groups, grads, [&](Index i, float* acc) {
        const float* g = dE.row(s.positions[i]);
        for (Index c = 0; c < d; ++c) acc[c] += g[c];
      });
    }
  }

  /// Per compressed field: normalised importance, then the sketch's batch insert; promotions are
  /// collected in order.
  void insert_importance() {
    promotions_.clear();
    for (Index f = 0; f < fields_; ++f) {
      const CafePlan::Field& field = plan_.fields[f];
      if (field.full) continue;
      batch_ids_.resize(static_cast<std::size_t>(batch_));
      batch_scores_.resize(static_cast<std::size_t>(batch_));
      double total = 0.0;
      for (Index b = 0; b < batch_; ++b) total += norms_[b * fields_ + f];
      if (!(total > 0.0) || !std::isfinite(total)) continue;
      const double scale = static_cast<double>(batch_) / total;
      for (Index b = 0; b < batch_; ++b) {
        batch_ids_[b] = routes_.gids[b * fields_ + f];
        batch_scores_[b] = static_cast<float>(norms_[b * fields_ + f] * scale);
      }
      sketches_[static_cast<std::size_t>(field.sketch)].insert_batch(batch_ids_, batch_scores_,
                                                                      sketch_promotions_);
      const Index base = plan_.sketch_base[static_cast<std::size_t>(field.sketch)];
      for (const SketchPromotion& s : sketch_promotions_) {
        promotions_.push_back({s.index * fields_ + f, base + s.hot_row});
      }
    }
  }

  /// Copies into each new hot row the embedding its feature was read with in this batch (all
  /// sources are read before any row is written), and moves the optimizer state along.
  void migrate(Optimizer* optimizer) {
    const Index d = dim();
    migration_.resize(promotions_.size() * static_cast<std::size_t>(d));
    for (std::size_t i = 0; i < promotions_.size(); ++i) {
      embedding(route_at_lookup(promotions_[i].position), migration_.data() + i * static_cast<std::size_t>(d), d);
    }
    for (std::size_t i = 0; i < promotions_.size(); ++i) {
      const Promotion& pr = promotions_[i];
      std::copy_n(migration_.data() + i * static_cast<std::size_t>(d), d, hot_->row(pr.hot));
      if (optimizer == nullptr) continue;
      const Route r = route_at_lookup(pr.position);
      if (r.hot >= 0) {
        if (r.hot != pr.hot) optimizer->copy_state_row(*hot_, r.hot, *hot_, pr.hot);
      } else {
        optimizer->copy_state_row(*rows_, r.row[0], *hot_, pr.hot);
      }
    }
  }

  CafeConfig config_;
  CafePlan plan_;
  Parameter* rows_ = nullptr;
  Parameter* hot_ = nullptr;
  std::vector<Parameter*> levels_;
  std::vector<float> level_thresholds_;
  std::vector<std::uint64_t> level_seeds_;
  std::vector<HotSketch> sketches_;

  // The routes forward() found, valid for the ids whose gids they hold while sketch_version_
  // (which counts the sketches' changes) is still forwarded_version_.
  Routes forwarded_;
  Index forwarded_fields_ = 0;
  std::uint64_t forwarded_version_ = ~std::uint64_t{0};
  std::uint64_t sketch_version_ = 0;
  // The last backward batch, for after_step.
  Routes routes_;
  bool pending_ = false;
  Index batch_ = 0, fields_ = 0;
  std::vector<float> norms_;
  // Scratch reused across steps.
  kernels::RowGroups primary_groups_;
  std::vector<float> unique_values_;
  std::vector<Scatter> level_scatter_;
  std::vector<std::uint64_t> batch_ids_;
  std::vector<float> batch_scores_;
  std::vector<SketchPromotion> sketch_promotions_;
  std::vector<Promotion> promotions_;
  std::vector<float> migration_;
};

}  // namespace embcomp
