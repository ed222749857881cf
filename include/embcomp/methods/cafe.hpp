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
// Which rows each (field, id) reads, the sketches and the importance inserts: cafe_routing.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/gather.hpp"
#include "embcomp/kernels/norm.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/methods/cafe_plan.hpp"
#include "embcomp/methods/cafe_routing.hpp"
#include "embcomp/optim/optimizer.hpp"
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
  Index sketch_count() const { return static_cast<Index>(routing_.sketches().size()); }
  const HotSketch& sketch(Index i) const { return routing_.sketches()[static_cast<std::size_t>(i)]; }
  /// The sketch answer for local id `id` of field f (cold for a full field).
  SketchQuery query(Index field, Index id) const { return routing_.query(field, id); }
  /// Hot-table row of (field, local id), or -1 when it is cold.
  Index hot_row_of(Index field, Index id) const { return routing_.route(field, id).hot; }
  /// Level-1 row ("rows" parameter) of (field, local id): the row it reads whenever it is cold.
  Index hash_row_of(Index field, Index id) const { return routing_.hash_row_of(field, id); }
  /// Hash levels a cold (field, id) sums now (0 when hot).
  Index levels_of(Index field, Index id) const { return routing_.route(field, id).levels; }

  /// The sketches' state (CafeRouting::statistics). A hot table far from full means T is high
  /// for the data seen so far.
  std::vector<TableStatistic> statistics() const override { return routing_.statistics(); }

  /// Importance insert, promotion and migration of the last backward batch (see the top).
  void after_step(const StepContext& ctx) override {
    if (!pending_) return;
    pending_ = false;
    routing_.insert_importance(routes_, norms_.data(), batch_, fields_);
    migrate(ctx.optimizer);
  }

  // The steps of training, for a twin that keeps the rows elsewhere (cuda::CafeTable): it
  // routes a batch here, updates its rows, inserts the importance here and moves the promoted
  // rows itself, as after_step does.

  using Routes = CafeRouting::Routes;
  using Promotion = CafeRouting::Promotion;

  /// The routes of `ids` (ids in range) through the sketches as they are now.
  void route_batch(const IdBatch& ids, Routes& routes) const { read(ids, nullptr, &routes); }
  /// The row of level table `level` (2 .. L) that cold global id `gid` reads at that level.
  Index level_row(Index level, std::uint64_t gid) const { return routing_.level_row(level, gid); }
  /// CafeRouting::insert_importance: the promotions of one batch's importance, in order.
  const std::vector<Promotion>& insert_importance(const Routes& routes, const float* norms,
                                                  Index batch, Index fields) {
    return routing_.insert_importance(routes, norms, batch, fields);
  }

 protected:
  CafeTable(const TableArgs& args, CafeConfig config)
      : EmbeddingTable(args),
        config_(config),
        plan_(plan_cafe(args, config_)),
        routing_(config_, plan_, args.seed) {
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
    std::vector<HotSketch>& sketches = routing_.sketches();
    for (std::size_t s = 0; s < sketches.size(); ++s) {
      add_index_state("sketch" + std::to_string(s), sketches[s]);
    }
  }

  void lookup_impl(const IdBatch& ids, Matrix out) const override { read(ids, &out, nullptr); }

  /// lookup_impl, keeping every position's route for the backward of the same ids.
  void forward_impl(const IdBatch& ids, Matrix out) override {
    read(ids, &out, &forwarded_);
    forwarded_fields_ = ids.fields;
    forwarded_version_ = routing_.version();
  }

  /// Per position: the primary row it read (a "rows" row, or table_rows + its hot row), its
  /// hash levels and global id (the routes forward kept, or routed again when backward follows a
  /// plain lookup or other ids), and its importance ||dE_p||, kept for after_step. Gradients: one
  /// RowGroups over the primary rows (the same work as a plain hash table's backward), its
  /// unique rows split between "rows" and "hot"; medium positions of cafe-ml add dE_p to their
  /// level rows too.
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    if (forwarded_for(ids)) {
      std::swap(routes_, forwarded_);
      forwarded_version_ = ~std::uint64_t{0};
    } else {
      read(ids, nullptr, &routes_);
    }
    const Index d = dim();
    primary_groups_.build(routes_.primary);
    unique_values_.assign(static_cast<std::size_t>(primary_groups_.unique_count() * d), 0.0f);
    primary_groups_.sum_rows(d, dE.data, unique_values_.data());
    importance(dE, ids.fields);
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
    routing_.sketches_replaced();
  }

 private:
  using Route = CafeRouting::Route;

  /// Rows and positions that read them, for one level table.
  struct Scatter {
    std::vector<Index> rows, positions;
    kernels::RowGroups groups;
  };

  /// Routes every position of `ids` through the sketches as they are now, writing its embedding
  /// to `out` (unless null) and its route to `routes` (unless null).
  void read(const IdBatch& ids, Matrix* out, Routes* routes) const {
    float* embeddings = out != nullptr ? out->data : nullptr;
    if (routes == nullptr) {
      read_positions(ids, embeddings, nullptr, nullptr, nullptr);
      return;
    }
    const auto n = static_cast<std::size_t>(ids.size());
    routes->primary.resize(n), routes->levels.resize(n), routes->gids.resize(n);
    routes->extra_level = read_positions(ids, embeddings, routes->primary.data(),
                                         routes->levels.data(), routes->gids.data());
  }

  /// read() for every position p: embeddings[p * d ...] (unless null), primary[p], levels[p] and
  /// gids[p] (unless null). Returns whether some position sums more than one hash level.
  bool read_positions(const IdBatch& ids, float* __restrict embeddings, Index* __restrict primary,
                      std::uint8_t* __restrict levels, std::uint64_t* __restrict gids) const {
    const Index F = ids.fields, d = dim();
    std::vector<CafeRouting::FieldRouter> field_routers;  // local: lookups may run concurrently
    field_routers.reserve(static_cast<std::size_t>(F));
    for (Index f = 0; f < F; ++f) field_routers.push_back(routing_.router(f));
    const CafeRouting::FieldRouter* routers = field_routers.data();
    bool extra_level = false;
#pragma omp parallel for schedule(static) reduction(|| : extra_level) if (ids.size() > 2048)
    for (Index b = 0; b < ids.batch; ++b) {
      for (Index f = 0; f < F; ++f) {
        const Index p = b * F + f;
        const CafeRouting::Primary r = routers[f].primary(ids[p]);
        const auto gid = static_cast<std::uint64_t>(routers[f].offset() + ids[p]);
        if (embeddings != nullptr) embedding(r.row, r.levels, gid, embeddings + p * d, d);
        if (primary != nullptr) {
          primary[p] = r.row;
          levels[p] = static_cast<std::uint8_t>(r.levels);
          gids[p] = gid;
          extra_level = extra_level || r.levels > 1;
        }
      }
    }
    return extra_level;
  }

  /// norms_[p] = ||dE_p|| (importance=frequency: 1) for the positions p of compressed fields in
  /// dE [B*F x d]; the others are left as they are (nothing reads them: full fields have no
  /// sketch). In a pass of its own: taking each norm inside the gradient sum (RowGroups visits
  /// the rows of dE grouped by storage row) was slower, 5.7 against 5.1 ms per step of
  /// cafe/train/small/d16.
  void importance(ConstMatrix dE, Index fields) {
    const Index n = dE.rows, d = dim();
    norms_.resize(static_cast<std::size_t>(n));
    if (config_.frequency) {
      std::fill(norms_.begin(), norms_.end(), 1.0f);
      return;
    }
    compressed_positions(n, fields);
    const Index count = static_cast<Index>(positions_.size());
    constexpr Index kBlock = 1024;  // positions per task
#pragma omp parallel for schedule(static) if (count > 4 * kBlock)
    for (Index first = 0; first < count; first += kBlock) {
      kernels::l2_norms_at(dE.data, d, positions_.data() + first, std::min(kBlock, count - first),
                           norms_.data());
    }
  }

  /// positions_ = the positions p < n (ascending) of the compressed fields, `fields` per sample
  /// (kept while n and fields stay the same).
  void compressed_positions(Index n, Index fields) {
    if (positions_n_ == n && positions_fields_ == fields) return;
    positions_n_ = n, positions_fields_ = fields;
    positions_.clear();
    for (Index first = 0; first < n; first += fields) {
      for (Index f = 0; f < fields; ++f) {
        if (!plan_.fields[f].full) positions_.push_back(first + f);
      }
    }
  }

  /// Whether forward's routes belong to `ids` under the sketches as they are now (same field
  /// count, sketch version and global id at every position).
  bool forwarded_for(const IdBatch& ids) const {
    const Index n = ids.size(), F = ids.fields;
    if (forwarded_version_ != routing_.version() || forwarded_fields_ != F ||
        forwarded_.gids.size() != static_cast<std::size_t>(n)) {
      return false;
    }
    const std::uint64_t* forwarded_gids = forwarded_.gids.data();
    std::uint64_t differ = 0;  // without a branch per position
#pragma omp parallel for schedule(static) reduction(| : differ) if (n > 8192)
    for (Index b = 0; b < ids.batch; ++b) {
      for (Index f = 0; f < F; ++f) {
        const Index p = b * F + f;
        differ |= forwarded_gids[p] ^ static_cast<std::uint64_t>(plan_.fields[f].offset + ids[p]);
      }
    }
    return differ == 0;
  }

  /// The route position p of the last backward batch was read with.
  Route route_at_lookup(Index p) const { return routing_.route_at(routes_, p); }

  /// out[d] = the embedding of primary row `primary` (a "rows" row, or table_rows + a hot row)
  /// plus, for `levels` > 1, the level rows 2 .. levels of global id `gid`.
  void embedding(Index primary, Index levels, std::uint64_t gid, float* out, Index d) const {
    const Index table_rows = plan_.table_rows;
    kernels::copy_row(primary >= table_rows ? hot_->row(primary - table_rows) : rows_->row(primary), d, out);
    for (Index l = 2; l <= levels; ++l) {
      const float* extra = levels_[static_cast<std::size_t>(l - 2)]->row(routing_.level_row(l, gid));
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
    const std::vector<Promotion>& promotions = routing_.promotions();
    migration_.resize(promotions.size() * static_cast<std::size_t>(d));
    for (std::size_t i = 0; i < promotions.size(); ++i) {
      const Index p = promotions[i].position;
      embedding(routes_.primary[p], routes_.levels[p], routes_.gids[p],
                migration_.data() + i * static_cast<std::size_t>(d), d);
    }
    for (std::size_t i = 0; i < promotions.size(); ++i) {
      const Promotion& pr = promotions[i];
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
  CafeRouting routing_;

  // The routes forward() found, valid for the ids whose gids they hold while the routing's
  // version is still forwarded_version_.
  Routes forwarded_;
  Index forwarded_fields_ = 0;
  std::uint64_t forwarded_version_ = ~std::uint64_t{0};
  // The last backward batch, for after_step.
  Routes routes_;
  bool pending_ = false;
  Index batch_ = 0, fields_ = 0;
  std::vector<float> norms_;
  std::vector<Index> positions_;  // importance's compressed positions, for batches of
  Index positions_n_ = -1, positions_fields_ = -1;  // this many positions and fields
  // Scratch reused across steps.
  kernels::RowGroups primary_groups_;
  std::vector<float> unique_values_;
  std::vector<Scatter> level_scatter_;
  std::vector<float> migration_;
};

}  // namespace embcomp
