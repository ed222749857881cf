// CAFE's routing (spec cafe.md §1-§3): the HotSketches and what they say each (field, id) reads
// now, and the importance inserts that promote features. The table (cafe.hpp) owns the rows,
// reads and trains them along these routes and moves the promoted rows.
//
// Local id x of compressed field f, gid = field offset + x, q = sketch.query(gid):
//   hot:  the hot table's row base_s + q.hot_row
//   else: level-1 row base_f + bucket(gid, m_f) of "rows", plus rows bucket(gid, M_l) of the
//         level tables l = 2..k, k = 1 + #{l in 2..L : q.score >= T_l}, T_l = T level_ratio^(l-1)
//         (cafe: k = 1). A full field reads row base_f + x.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "embcomp/kernels/bucket.hpp"
#include "embcomp/methods/cafe_plan.hpp"
#include "embcomp/sketch/hot_sketch.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class CafeRouting {
 public:
  /// The rows one lookup reads: a hot row, or `levels` hash rows (row[0] in "rows", row[l] in
  /// level l + 1) summed.
  struct Route {
    Index hot = -1;
    Index levels = 1;
    std::array<Index, CafeConfig::kMaxLevels> row{};
  };

  /// Where each position of a batch reads.
  struct Routes {
    std::vector<Index> primary;         ///< "rows" row, or table_rows + hot row
    std::vector<std::uint8_t> levels;   ///< hash levels summed (0: hot)
    std::vector<std::uint64_t> gids;    ///< global ids
    bool extra_level = false;           ///< some position sums more than one level
  };

  /// A feature promoted by insert_importance: the batch position it came from and its hot row.
  struct Promotion {
    Index position = 0;
    Index hot = 0;
  };

  /// The sketches of `plan` (one, or one per compressed field), seeded from `seed`. `plan` must
  /// outlive the routing.
  CafeRouting(const CafeConfig& config, const CafePlan& plan, std::uint64_t seed)
      : config_(config), plan_(plan), level_thresholds_(config.level_thresholds()) {
    for (std::size_t l = 0; l < level_thresholds_.size(); ++l) {
      level_seeds_.push_back(kernels::combine(seed, 0x1e7e1ULL + l));
    }
    for (std::size_t s = 0; s < plan_.sketch_rows.size(); ++s) {
      sketches_.emplace_back(HotSketchConfig{plan_.sketch_rows[s], config_.slots, plan_.sketch_rows[s],
                                             static_cast<float>(config_.threshold), config_.decay,
                                             config_.sketch_hash, kernels::combine(seed, s),
                                             config_.adaptive_threshold, config_.half_life});
    }
  }
  CafeRouting(const CafeRouting&) = delete;
  CafeRouting& operator=(const CafeRouting&) = delete;

  std::vector<HotSketch>& sketches() { return sketches_; }
  const std::vector<HotSketch>& sketches() const { return sketches_; }
  /// Counts the sketches' changes (inserts, loads): routes found under another version are stale.
  std::uint64_t version() const { return version_; }
  void sketches_replaced() { ++version_; }

  std::uint64_t gid(const CafePlan::Field& f, Index id) const {
    return static_cast<std::uint64_t>(f.offset + id);
  }

  /// The sketch answer for local id `id` of field f (cold for a full field).
  SketchQuery query(Index field, Index id) const {
    const CafePlan::Field& f = plan_.fields[field];
    if (f.full) return {};
    return sketches_[static_cast<std::size_t>(f.sketch)].query(gid(f, id));
  }

  /// Level-1 row ("rows" parameter) of (field, local id): the row it reads whenever it is cold.
  Index hash_row_of(Index field, Index id) const {
    const CafePlan::Field& f = plan_.fields[field];
    return f.full ? f.base + id : f.base + hash_row(f, gid(f, id));
  }

  /// The rows (field, local id) reads now.
  Route route(Index field, Index id) const {
    const Primary p = primary(field, id);
    if (p.levels == 0) {
      Route r;
      r.hot = p.row - plan_.table_rows;
      r.levels = 0;
      return r;
    }
    return cold_route(p.row, p.levels, gid(plan_.fields[field], id));
  }

  /// What a position reads, without its level rows: the primary row (a "rows" row, or
  /// plan.table_rows + its hot row) and the hash levels it sums (0: hot, 1 for cafe).
  struct Primary {
    Index row = 0;
    Index levels = 1;
  };

  /// primary() of one field, with the field's constants loaded once: for loops over a field's
  /// positions.
  class FieldRouter {
   public:
    FieldRouter(const CafeRouting& routing, Index field)
        : routing_(&routing), field_(&routing.plan_.fields[field]) {
      if (field_->full) return;
      const auto s = static_cast<std::size_t>(field_->sketch);
      sketch_ = &routing.sketches_[s];
      hot_base_ = routing.plan_.table_rows + routing.plan_.sketch_base[s];
      // Level thresholds follow the sketch's T when adaptive raises it (a factor of exactly 1
      // otherwise).
      if (routing.config_.adaptive_threshold) {
        level_scale_ = sketch_->threshold() / static_cast<float>(routing.config_.threshold);
      }
    }

    /// The primary row and levels of local id `id` of the field: one sketch query.
    Primary primary(Index id) const {
      if (sketch_ == nullptr) return {field_->base + id, 1};
      const std::uint64_t key = routing_->gid(*field_, id);
      const SketchQuery q = sketch_->query(key);
      if (q.hot()) return {hot_base_ + q.hot_row, 0};
      const std::vector<float>& thresholds = routing_->level_thresholds_;
      Index levels = 1;
      while (levels - 1 < static_cast<Index>(thresholds.size()) &&
             q.score >= thresholds[static_cast<std::size_t>(levels - 1)] * level_scale_) {
        ++levels;
      }
      return {field_->base + routing_->hash_row(*field_, key), levels};
    }

    /// The field's global id offset.
    Index offset() const { return field_->offset; }

   private:
    const CafeRouting* routing_;
    const CafePlan::Field* field_;
    const HotSketch* sketch_ = nullptr;  // null: a full field
    Index hot_base_ = 0;                 // table_rows + the sketch's first hot row
    float level_scale_ = 1.0f;
  };

  FieldRouter router(Index field) const { return FieldRouter(*this, field); }

  /// route()'s primary row and levels of (field, local id): one sketch query.
  Primary primary(Index field, Index id) const { return router(field).primary(id); }

  /// The route position p of `routes` was read with.
  Route route_at(const Routes& routes, Index p) const {
    if (routes.primary[p] >= plan_.table_rows) {
      Route r;
      r.hot = routes.primary[p] - plan_.table_rows;
      r.levels = 0;
      return r;
    }
    return cold_route(routes.primary[p], routes.levels[p], routes.gids[p]);
  }

  /// The row of level table `level` (2 .. L) that cold global id `gid` reads at that level.
  Index level_row(Index level, std::uint64_t gid) const {
    const auto i = static_cast<std::size_t>(level - 2);
    return static_cast<Index>(kernels::bucket(gid, static_cast<std::uint64_t>(plan_.level_rows[i]),
                                              level_seeds_[i], config_.hash));
  }

  /// Inserts one batch's importance into the sketches: norms[B*F] by position (||dE_p||, or 1
  /// with importance=frequency) of the batch `routes` describes, normalised per compressed
  /// field to total B, then each sketch's batch insert. Returns the promotions, in order.
  const std::vector<Promotion>& insert_importance(const Routes& routes, const float* norms,
                                                  Index batch, Index fields) {
    ++version_;
    promotions_.clear();
    gather_importance(routes, norms, batch, fields);
    for (std::size_t k = 0; k < compressed_.size(); ++k) {
      const Index f = compressed_[k];
      const CafePlan::Field& field = plan_.fields[f];
      const double total = column_totals_[k];
      if (!(total > 0.0) || !std::isfinite(total)) continue;
      const double scale = static_cast<double>(batch) / total;
      const std::span<const std::uint64_t> ids(column_ids_.data() + k * batch, static_cast<std::size_t>(batch));
      const std::span<float> scores(column_scores_.data() + k * batch, static_cast<std::size_t>(batch));
      for (float& s : scores) s = static_cast<float>(s * scale);
      sketches_[static_cast<std::size_t>(field.sketch)].insert_batch(ids, scores, sketch_promotions_);
      const Index base = plan_.sketch_base[static_cast<std::size_t>(field.sketch)];
      for (const SketchPromotion& s : sketch_promotions_) {
        promotions_.push_back({s.index * fields + f, base + s.hot_row});
      }
    }
    return promotions_;
  }

  /// The promotions of the last insert_importance, in order.
  const std::vector<Promotion>& promotions() const { return promotions_; }

  /// hot_rows, hot_rows_in_use, tracked_ids (occupied sketch slots), sketch_decays: summed over
  /// the sketches; threshold: the highest sketch threshold now (threshold=adaptive raises it).
  std::vector<TableStatistic> statistics() const {
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

 private:
  /// Row of global id `key` in field f's hash table: kernels::bucket (gid mod m_f for
  /// hash=modulo, computed by multiply-shift since ids fit 32 bits).
  Index hash_row(const CafePlan::Field& f, std::uint64_t key) const {
    if (config_.hash == kernels::HashKind::modulo) {
      return kernels::fastmod32(static_cast<std::uint32_t>(key), f.modulo_multiplier,
                                static_cast<std::uint32_t>(f.rows));
    }
    return static_cast<Index>(kernels::bucket(key, static_cast<std::uint64_t>(f.rows), f.seed, config_.hash));
  }

  /// The batch's columns of the compressed fields, in one pass over the positions: for the k-th
  /// compressed field f (compressed_[k]), column_ids_[k * batch + b] = its global id and
  /// column_scores_[k * batch + b] = its norm in sample b, and column_totals_[k] = the sum of
  /// those norms (in sample order).
  void gather_importance(const Routes& routes, const float* norms, Index batch, Index fields) {
    compressed_.clear();
    for (Index f = 0; f < fields; ++f) {
      if (!plan_.fields[f].full) compressed_.push_back(f);
    }
    const std::size_t count = compressed_.size();
    column_ids_.resize(count * static_cast<std::size_t>(batch));
    column_scores_.resize(count * static_cast<std::size_t>(batch));
    column_totals_.assign(count, 0.0);
    std::uint64_t* __restrict ids = column_ids_.data();
    float* __restrict scores = column_scores_.data();
    double* __restrict totals = column_totals_.data();
    const Index* __restrict compressed = compressed_.data();
    const std::uint64_t* gids = routes.gids.data();
    for (Index b = 0; b < batch; ++b) {
      for (std::size_t k = 0; k < count; ++k) {
        const Index p = b * fields + compressed[k];
        ids[k * batch + b] = gids[p];
        scores[k * batch + b] = norms[p];
        totals[k] += norms[p];
      }
    }
  }

  /// The route of a cold id: level-1 row `row`, and its rows of levels 2 .. `levels`.
  Route cold_route(Index row, Index levels, std::uint64_t key) const {
    Route r;
    r.row[0] = row;
    r.levels = levels;
    for (Index l = 1; l < levels; ++l) r.row[l] = level_row(l + 1, key);
    return r;
  }

  const CafeConfig& config_;
  const CafePlan& plan_;
  std::vector<float> level_thresholds_;
  std::vector<std::uint64_t> level_seeds_;
  std::vector<HotSketch> sketches_;
  std::uint64_t version_ = 0;
  // insert_importance scratch, reused across steps: the compressed fields' columns
  std::vector<Index> compressed_;
  std::vector<std::uint64_t> column_ids_;
  std::vector<float> column_scores_;
  std::vector<double> column_totals_;
  std::vector<SketchPromotion> sketch_promotions_;
  std::vector<Promotion> promotions_;
};

}  // namespace embcomp
