// tt: TT-Rec, tensor-train embeddings (spec methods-inter.md §3; Yin et al., MLSys'21). A table
// of n rows is three cores G0, G1, G2 with ranks (1, R, R, 1); id x reads one row of each
// through its mixed-radix digits and contracts them (kernels/tt.hpp):
//   e[(a d1 + b) d2 + c] = sum_{r1, r2} G0[i0][a, r1] G1[i1][r1, b, r2] G2[i2][r2, c]
// Row factors (n0, n1, n2) and dim factors (d0, d1, d2) are the reference's
// (kernels::tt_row_factors, tt_dim_factors).
//
// tables=per_field (default, the reference's forced use_multi = 1): every field is its own TT;
//   a field is compressed only if n_f > threshold and its cores take fewer floats than its full
//   table (core/budget.hpp FieldRule), otherwise it keeps a full table.
// tables=shared: one TT over the global ids (field offset + local id), the spec's "one table".
// One rank R for every compressed table: the largest whose total fits the budget (an exact
// integer search, core/budget.hpp largest_fitting; the reference bisects over reals and takes
// floor(right), minus one if over). On Criteo, d = 16, it gives the spec's computed ranks
// (tt_test).
//
// Init, the one deliberate departure (`init`):
// * matched (default): every core entry from U(±s) with s chosen so that an embedding entry
//   (a sum of R^2 products of three entries) has the variance of the full table's U(±b),
//   b = 1 / sqrt(max n_f): 3 (s^2 / 3)^3 R^2 = b^2, as qr's mul init matches it.
// * reference: the reference's "reversed truncated normal": z ~ N(0, 1) redrawn until
//   |z| >= 2, times sigma = (3 / (n0 n1 n2))^(1/6). The spec computes the entries' variance
//   as ~R^2 570 / n, O(1) at the ranks the budget buys (std ~2.6 for one Criteo table at 2x)
//   against ~1e-8 for a full table.
// Evidence for the default (DLRM on the sweep's synthetic data, data seeds 1/2/3, validation
// AUC): at 10x matched 0.7727/0.7373/0.7329 against reference 0.7223/0.6897/0.6873, at 100x
// 0.7673/0.7267/0.7231 against 0.6710/0.6092/0.6130 (`embcomp sweep --methods
// tt:init=matched tt:init=reference --ratios 10,100 --data-seed S`).
//
// cache=s (TT-Rec's cache of hot rows; the reference has none, cache=0): a share s of the
// budget holds uncompressed rows for the most frequent ids of the compressed tables, the rank
// is solved from the rest, and what the rank's granularity leaves over fills more cached rows.
// Where rank 1 does not fit beside the share, the cache takes what rank 1 leaves: the cache
// never narrows the ratios tt reaches. A cached row costs d floats plus its 8-byte key (the
// sorted keys are served index state, searched per lookup). Hot ids come from the
// training-split counts (TableArgs::counts, the command line passes them): the top ids by count
// over all compressed tables. Without counts the ids are frequency ranks, and the cache takes
// ranks 0, 1, 2, ... of every compressed table in turn. Cached rows start at a full table's
// U(±b) and train as full rows.
// The default 0.3 is a departure from the reference, on evidence (DLRM, the sweep's synthetic
// data, data seeds 1/2/3, validation AUC, mean over seeds): no cache 0.7480/0.7476/0.7391/
// 0.7159 at 2x/10x/100x/1000x; cache=0.3 0.7504/0.7501/0.7476/0.7286, at or above no cache
// at every ratio and seed; 0.5 and 0.8 differ from 0.3 by at most 0.0053 in any mean (0.8 is
// best at 100x) but fall below no cache at 10x on one seed, so the smallest share that never
// lost was taken. At 1000x (rank 1 either way) every share gives +0.013.
// Storage: the cores of all compressed tables stacked in "core0" [sum n0 x d0 R], "core1"
// [sum n1 x R d1 R], "core2" [sum n2 x R d2], the full fields in "full" [sum n_f x d]; each
// exists only when some table uses it. All are row-indexed with sparse, deduplicated
// gradients (lazy Adam on the touched core rows, as the reference).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/random.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/kernels/tt.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// The sizing decision of a TtTable, computed before anything is allocated.
struct TtPlan {
  /// One TT (or full) table: `ids` rows, read by the fields that map to it.
  struct Table {
    Index ids = 0;
    bool compressed = false;
    kernels::TtShape shape;  ///< its cores, when compressed
  };
  bool shared = false;        ///< one table over global ids (else one per field)
  Index rank = 0;             ///< R of every compressed table
  std::vector<Table> tables;  ///< [F] per field, or [1] shared
  Index floats = 0;           ///< fp32 values of all tables together (cache rows excluded)
  Index cached_rows = 0;      ///< hot rows held uncompressed (cache share > 0)
  Index dim = 0;

  /// Bytes of one cached row: d floats and its 8-byte key.
  static std::size_t cached_row_bytes(Index d) { return static_cast<std::size_t>(d) * sizeof(float) + sizeof(Index); }
  std::size_t bytes() const {
    return static_cast<std::size_t>(floats) * sizeof(float) +
           static_cast<std::size_t>(cached_rows) * cached_row_bytes(dim);
  }
};

class TtTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "tt";
  static constexpr const char* kSummary =
      "TT-Rec: each table a tensor train of three cores indexed in mixed radix";
  static std::vector<OptionInfo> option_info() {
    return {{"tables", "per_field", "per_field (one TT per field, the reference) | shared"},
            {"threshold", "0", "per_field: fields with n_f <= threshold keep a full table"},
            {"init", "matched", "matched (entries at a full table's scale) | reference"},
            {"cache", "0.3", "share of the budget for uncompressed rows of the hottest ids (0: none, the reference)"}};
  }
  static constexpr bool kUsesCounts = true;  // the cache's hot ids

  TtTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        plan_(plan(args.schema, args.budget, shared_option(options), threshold_option(options),
                   cache_option(options))) {
    allocate();
    choose_cached_ids();
    if (options.pick<bool>("init", {{"matched", false}, {"reference", true}})) {
      initialise_reference(args.seed);
    } else {
      initialise_matched(args.seed);
    }
  }

  /// Sizes a TtTable without building it: the largest rank whose tables fit `budget` (less the
  /// cache's share), then as many cached rows as the rest of the budget holds. Throws
  /// InfeasibleBudget (naming the reachable ratio) when even rank 1 does not fit.
  static TtPlan plan(const Schema& schema, const Budget& budget, bool shared, long long threshold,
                     double cache_share = 0.0) {
    const std::vector<Index> sizes =
        shared ? std::vector<Index>{schema.total_rows()} : schema.cardinalities;
    const FieldRule rule{shared ? 0 : threshold, schema.dim};
    const auto dims = kernels::tt_dim_factors(schema.dim);
    const auto shape = [&](Index n, Index rank) {
      return kernels::TtShape{kernels::tt_row_factors(n), dims, rank};
    };
    const auto total = [&](Index rank) {
      double floats = 0;
      for (Index n : sizes) floats += rule.floats(n, static_cast<double>(shape(n, rank).floats()));
      return floats;
    };
    const double limit = budget.bytes(schema) / sizeof(float);
    // Past sqrt(N d) no core is smaller than its table: every rank above gives the same total.
    const Index top = ceil_root(schema.total_rows() * schema.dim, 2) + 1;
    const auto largest_rank = [&](double floats) {
      return largest_fitting(1, top, [&](Index r) { return total(r) <= floats; });
    };
    // The cache never makes a budget infeasible: where rank 1 does not fit beside its share, the
    // cache takes what rank 1 leaves.
    const Index rank = std::max(largest_rank(limit * (1.0 - cache_share)), std::min<Index>(largest_rank(limit), 1));
    if (rank < 1) throw_infeasible(kKey, total(1) * sizeof(float), {schema, budget, 0});
    TtPlan p{shared, rank, {}, 0, 0, schema.dim};
    Index compressed_ids = 0;
    for (Index n : sizes) {
      const kernels::TtShape s = shape(n, rank);
      p.tables.push_back({n, rule.compresses(n, static_cast<double>(s.floats())), s});
      if (p.tables.back().compressed) compressed_ids += n;
    }
    p.floats = static_cast<Index>(total(rank));
    if (cache_share > 0.0) {
      const double left = budget.bytes(schema) - static_cast<double>(p.floats) * sizeof(float);
      const auto rows = static_cast<Index>(std::floor(left / static_cast<double>(TtPlan::cached_row_bytes(schema.dim))));
      p.cached_rows = std::min(rows, compressed_ids);
    }
    return p;
  }

  const TtPlan& sizing() const { return plan_; }
  /// Where each table ([F] per field, or [1] shared) lives in the stacked parameters.
  const std::vector<kernels::TtLayout>& layouts() const { return layouts_; }
  Index rank() const { return plan_.rank; }
  /// Global keys (field offset + id) of the cached rows, ascending; row i of "cache" is key i.
  const std::vector<Index>& cached_keys() const { return cache_keys_.values; }

  /// "multiply_adds_per_lookup": the contraction's d0 d1 R^2 + d R per id of a compressed
  /// table, averaged over the fields (a full field does none).
  std::vector<TableStatistic> statistics() const override {
    Index compressed_fields = 0;
    for (Index f = 0; f < schema().num_fields(); ++f) {
      compressed_fields += plan_.tables[plan_.shared ? 0 : static_cast<std::size_t>(f)].compressed;
    }
    const Index per_id = shape_.dims[0] * shape_.dims[1] * plan_.rank * plan_.rank + dim() * plan_.rank;
    return {{"multiply_adds_per_lookup", static_cast<double>(per_id * compressed_fields) /
                                             static_cast<double>(schema().num_fields())}};
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    const Index d = dim();
#pragma omp parallel if (ids.size() > 256)
    {
      std::vector<float> t(static_cast<std::size_t>(shape().scratch()));
#pragma omp for schedule(static)
      for (Index p = 0; p < ids.size(); ++p) {
        const Route r = route(ids, p);
        if (r.via == Via::cores) {
          kernels::tt_contract(shape(), core_[0]->row(r.rows[0]), core_[1]->row(r.rows[1]),
                               core_[2]->row(r.rows[2]), t.data(), out.row(p));
        } else {
          std::copy_n((r.via == Via::full ? full_ : cache_)->row(r.rows[0]), d, out.row(p));
        }
      }
    }
  }

  /// The gradient of rows read as they are ("full", "cache"): dE row of each position.
  void scatter_plain_rows(Parameter* table, const std::vector<Index>& positions,
                          const std::vector<Index>& rows, ConstMatrix dE, Gradients& grads) {
    if (positions.empty()) return;
    scatter_param_grad(*table, rows, groups_, grads, [&](Index i, float* acc) {
      const float* g = dE.row(positions[i]);
      for (Index k = 0; k < dim(); ++k) acc[k] += g[k];
    });
  }

  /// Per compressed position i: T_i (recomputed), dT_i = g G2^T, and its G0 and G2 gradient
  /// rows; then one sparse gradient per core (G1's rows from G0 and dT_i) and for "full".
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    route_positions(ids);
    if (!positions_.empty()) core_gradients(dE, grads);
    scatter_plain_rows(full_, full_positions_, full_rows_, dE, grads);
    scatter_plain_rows(cache_, cache_positions_, cache_rows_, dE, grads);
  }

 private:
  /// The rows one position reads (kernels::tt_route): core rows, or rows[0] of "full" or
  /// "cache".
  using Route = kernels::TtRoute;
  using Via = Route::Via;

  static double cache_option(const Options& options) {
    const double share = options.non_negative("cache");
    if (share >= 1.0) throw InvalidArgument("tt: cache=" + options.text("cache") + " must be below 1 (a share of the budget)");
    return share;
  }
  static bool shared_option(const Options& options) {
    return options.pick<bool>("tables", {{"per_field", false}, {"shared", true}});
  }
  static long long threshold_option(const Options& options) {
    if (!shared_option(options)) return options.integer("threshold");
    options.not_applicable("threshold", "tables=shared (one table over every field)");
    return 0;
  }

  const kernels::TtShape& shape() const { return shape_; }

  void allocate() {
    Index rows[3] = {0, 0, 0}, full_rows = 0;
    for (const TtPlan::Table& t : plan_.tables) {
      kernels::TtLayout& layout = layouts_.emplace_back();
      layout.compressed = t.compressed;
      layout.shape = t.shape;
      if (t.compressed) {
        for (int c = 0; c < 3; ++c) layout.base[c] = rows[c], rows[c] += t.shape.rows[c];
        shape_ = t.shape;  // every compressed table has the same dims and rank
      } else {
        layout.base[0] = full_rows;
        full_rows += t.ids;
      }
    }
    if (rows[0] > 0) {
      for (int c = 0; c < 3; ++c) {
        core_[c] = &add_parameter("core" + std::to_string(c), rows[c], shape_.width(c), ParamKind::rows);
      }
    }
    if (full_rows > 0) full_ = &add_parameter("full", full_rows, dim(), ParamKind::rows);
    if (plan_.cached_rows > 0) {
      cache_ = &add_parameter("cache", plan_.cached_rows, dim(), ParamKind::rows);
      cache_->fill_uniform(default_init_bound(schema()), kernels::combine(seed(), 4));
    }
    offsets_ = schema().field_offsets();
  }

  /// The global keys (field offset + id) of the cached rows, ascending: the top ids by
  /// training-split count over the compressed tables (ties to the smaller key), or without
  /// counts ranks 0, 1, 2, ... of every compressed table in turn.
  void choose_cached_ids() {
    const auto K = static_cast<std::size_t>(plan_.cached_rows);
    if (K == 0) return;
    const Schema& s = schema();
    std::vector<Index> fields;
    for (Index f = 0; f < s.num_fields(); ++f) {
      if (plan_.tables[plan_.shared ? 0 : static_cast<std::size_t>(f)].compressed) fields.push_back(f);
    }
    std::vector<Index>& keys = cache_keys_.values;
    keys.clear();
    if (args().counts) {
      // A min-heap of the K best (count, -key) pairs seen: O(N log K) time, O(K) memory.
      using Scored = std::pair<std::uint64_t, Index>;  // (count, -key): larger is hotter
      std::priority_queue<Scored, std::vector<Scored>, std::greater<>> best;
      for (Index f : fields) {
        for (Index id = 0; id < s.cardinalities[f]; ++id) {
          best.emplace(args().count_or_rank(f, id), -(offsets_[f] + id));
          if (best.size() > K) best.pop();
        }
      }
      for (; !best.empty(); best.pop()) keys.push_back(-best.top().second);
    } else {
      for (Index rank = 0; keys.size() < K; ++rank) {
        for (Index f : fields) {
          if (rank < s.cardinalities[f] && keys.size() < K) keys.push_back(offsets_[f] + rank);
        }
      }
    }
    std::sort(keys.begin(), keys.end());
  }

  /// s with 3 (s^2 / 3)^3 R^2 = b^2: embedding entries with the variance of U(±b).
  void initialise_matched(std::uint64_t seed) {
    const double b = default_init_bound(schema());
    const double core_variance = std::cbrt(b * b / (3.0 * static_cast<double>(plan_.rank * plan_.rank)));
    const auto s = static_cast<float>(std::sqrt(3.0 * core_variance));
    for (int c = 0; c < 3; ++c) {
      if (core_[c] != nullptr) core_[c]->fill_uniform(s, kernels::combine(seed, static_cast<std::uint64_t>(c)));
    }
    if (full_ != nullptr) full_->fill_uniform(static_cast<float>(b), kernels::combine(seed, 3));
  }

  /// The reference's tail-only normal, sigma = (3 / (n0 n1 n2))^(1/6) per table.
  void initialise_reference(std::uint64_t seed) {
    for (std::size_t t = 0; t < plan_.tables.size(); ++t) {
      const TtPlan::Table& table = plan_.tables[t];
      if (!table.compressed) continue;
      const auto& n = table.shape.rows;
      const double sigma = std::pow(3.0 / static_cast<double>(n[0] * n[1] * n[2]), 1.0 / 6.0);
      for (int c = 0; c < 3; ++c) {
        Parameter& core = *core_[c];
        const std::uint64_t stream = kernels::combine(seed, kernels::combine(t, static_cast<std::uint64_t>(c)));
        std::uint64_t counter = 0;
        for (Index r = layouts_[t].base[c]; r < layouts_[t].base[c] + n[c]; ++r) {
          float* row = core.row(r);
          for (Index k = 0; k < core.width(); ++k) {
            float z = 0.0f;
            do z = kernels::standard_normal(stream, counter++);
            while (std::fabs(z) < 2.0f);
            row[k] = static_cast<float>(sigma) * z;
          }
        }
      }
    }
    if (full_ != nullptr) full_->fill_uniform(default_init_bound(schema()), kernels::combine(seed, 3));
  }

  Route route(const IdBatch& ids, Index p) const {
    return kernels::tt_route(
        layouts_.data(), plan_.shared, offsets_.data(), cache_keys_.values.data(),
        static_cast<Index>(cache_keys_.values.size()), ids.field_of(p), ids[p]);
  }

  /// Splits the batch's positions into those read through the cores (with their core rows),
  /// from "full" and from "cache".
  void route_positions(const IdBatch& ids) {
    for (auto* list : {&positions_, &core_rows_[0], &core_rows_[1], &core_rows_[2], &full_positions_,
                       &full_rows_, &cache_positions_, &cache_rows_}) {
      list->clear();
    }
    for (Index p = 0; p < ids.size(); ++p) {
      const Route r = route(ids, p);
      if (r.via == Via::cores) {
        positions_.push_back(p);
        for (int c = 0; c < 3; ++c) core_rows_[c].push_back(r.rows[c]);
      } else {
        (r.via == Via::full ? full_positions_ : cache_positions_).push_back(p);
        (r.via == Via::full ? full_rows_ : cache_rows_).push_back(r.rows[0]);
      }
    }
  }

  void core_gradients(ConstMatrix dE, Gradients& grads) {
    const kernels::TtShape& s = shape();
    const auto count = static_cast<Index>(positions_.size());
    const Index w0 = s.width(0), w2 = s.width(2), wt = s.scratch();
    grad0_.assign(static_cast<std::size_t>(count * w0), 0.0f);
    grad2_.assign(static_cast<std::size_t>(count * w2), 0.0f);
    dt_.resize(static_cast<std::size_t>(count * wt));
#pragma omp parallel if (count > 64)
    {
      std::vector<float> t(static_cast<std::size_t>(wt));
#pragma omp for schedule(static)
      for (Index i = 0; i < count; ++i) {
        const float* g = dE.row(positions_[i]);
        const float* g1 = core_[1]->row(core_rows_[1][i]);
        const float* g2 = core_[2]->row(core_rows_[2][i]);
        kernels::tt_first_product(s, core_[0]->row(core_rows_[0][i]), g1, t.data());
        float* dt = dt_.data() + i * wt;
        kernels::tt_grad_t(s, g, g2, dt);
        kernels::tt_add_grad_g2(s, t.data(), g, grad2_.data() + i * w2);
        kernels::tt_add_grad_g0(s, g1, dt, grad0_.data() + i * w0);
      }
    }
    scatter_output_grad(*core_[0], core_rows_[0], {grad0_.data(), count, w0}, groups_, grads);
    scatter_output_grad(*core_[2], core_rows_[2], {grad2_.data(), count, w2}, groups_, grads);
    scatter_param_grad(*core_[1], core_rows_[1], groups_, grads, [&](Index i, float* acc) {
      kernels::tt_add_grad_g1(s, core_[0]->row(core_rows_[0][i]), dt_.data() + i * wt, acc);
    });
  }

  TtPlan plan_;
  kernels::TtShape shape_;
  std::vector<kernels::TtLayout> layouts_;  ///< [F] per field, or [1] shared
  std::vector<Index> offsets_;        ///< field offsets (the shared table's global ids)
  Parameter* core_[3] = {nullptr, nullptr, nullptr};
  Parameter* full_ = nullptr;
  Parameter* cache_ = nullptr;  ///< [cached rows x d], row i the id of cache_keys_[i]
  IndexArray<Index>& cache_keys_ = add_index<Index>("cache_keys");  ///< ascending global keys

  // backward scratch, reused from batch to batch
  std::vector<Index> positions_, core_rows_[3], full_positions_, full_rows_, cache_positions_, cache_rows_;
  std::vector<float> grad0_, grad2_, dt_;
  kernels::RowGroups groups_;
};

}  // namespace embcomp
