// cafe: HotSketch + hot/hash embedding tables (spec cafe.md; Zhang et al., SIGMOD 2024). A
// HotSketch tracks each feature's importance (its gradient norms); a feature whose score reaches
// the threshold T gets its own row of the hot table, every other feature of a compressed field
// reads a hash row (one shared cold table, or per field with layout=reference). cafe-ml
// (cafe_ml.hpp) sums more hash levels for medium features; both are this class. Sizing and
// options: cafe_plan.hpp. The design, the training step (forward routes, backward, importance
// inserts and migration with optimizer state after the step) and every difference from the
// reference, with its reason: docs/methods/cafe.md.
//
// Storage (row-major fp32 Parameters):
//   "rows"      [sum_f m_f x d]  full tables of small fields, then the level-1 hash table(s)
//   "hot"       [H x d]          the hot table (absent when no field is compressed)
//   "level<l>"  [M_l x d]        cafe-ml only, l = 2..L: shared level-l hash tables
//   index state one HotSketch (or one per field with sketch=per_field) with its free list.
// Lookup of local id x in compressed field f, gid = field offset + x, q = sketch.query(gid):
//   hot:  out = hot[base_s + q.hot_row]
//   else: out = rows[base_f + bucket(gid, m_f)] + sum_{l=2..k} level_l[bucket(gid, M_l)],
//         k = 1 + #{l in 2..L : q.score >= T_l}, T_l = T * level_ratio^(l-1)  (cafe: k = 1)
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/norm.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/methods/cafe_plan.hpp"
#include "embcomp/optim/optimizer.hpp"
#include "embcomp/sketch/hot_sketch.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class CafeTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "cafe";
  static constexpr const char* kSummary =
      "HotSketch tracks importance; hot features get own rows, the rest share hash rows";
  static std::vector<OptionInfo> option_info() { return cafe_option_info(); }

  CafeTable(const TableArgs& args, const Options& options)
      : CafeTable(args, parse_cafe_config(options, args, /*multi_level=*/false)) {}

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
    insert_importance(routes_, norms_.data(), batch_, fields_);
    migrate(ctx.optimizer);
  }

  // The steps of training, for a twin that keeps the rows elsewhere (cuda::CafeTable): it
  // routes a batch here, updates its rows, inserts the importance here and moves the promoted
  // rows itself, as after_step does.

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

  /// The routes of `ids` (ids in range) through the sketches as they are now.
  void route_batch(const IdBatch& ids, Routes& routes) const { read(ids, nullptr, &routes); }
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
    ++sketch_version_;
    promotions_.clear();
    for (Index f = 0; f < fields; ++f) {
      const CafePlan::Field& field = plan_.fields[f];
      if (field.full) continue;
      batch_ids_.resize(static_cast<std::size_t>(batch));
      batch_scores_.resize(static_cast<std::size_t>(batch));
      double total = 0.0;
      for (Index b = 0; b < batch; ++b) total += norms[b * fields + f];
      if (!(total > 0.0) || !std::isfinite(total)) continue;
      const double scale = static_cast<double>(batch) / total;
      for (Index b = 0; b < batch; ++b) {
        batch_ids_[b] = routes.gids[b * fields + f];
        batch_scores_[b] = static_cast<float>(norms[b * fields + f] * scale);
      }
      sketches_[static_cast<std::size_t>(field.sketch)].insert_batch(batch_ids_, batch_scores_,
                                                                      sketch_promotions_);
      const Index base = plan_.sketch_base[static_cast<std::size_t>(field.sketch)];
      for (const SketchPromotion& s : sketch_promotions_) {
        promotions_.push_back({s.index * fields + f, base + s.hot_row});
      }
    }
    return promotions_;
  }

 protected:
  CafeTable(const TableArgs& args, CafeConfig config)
      : EmbeddingTable(args), config_(config), plan_(plan_cafe(args, config_)) {
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
                                             config_.adaptive_threshold, config_.half_life});
    }
    for (std::size_t s = 0; s < sketches_.size(); ++s) {  // after the last emplace: stable
      add_index_state("sketch" + std::to_string(s), sketches_[s]);
    }
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

  std::uint64_t gid(const CafePlan::Field& f, Index id) const {
    return static_cast<std::uint64_t>(f.offset + id);
  }

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
    for (Index l = 1; l < levels; ++l) r.row[l] = level_row(l + 1, key);
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
