// adaembed: frequency-adaptive hot/cold embedding (spec methods-inter.md §7, DeepRec's
// "Adaptive Embedding"). Each compressed field's hot ids (its top ids by training-split count)
// get exclusive rows; its other ids share hashed cold rows. The split is static.
//
//   out[p] = rows[hot_base_f + rank_f(x)]                                   x hot in field f
//          = rows[cold_base_f + bucket(key_offset_f + x - rank_f(x), C_f)]  x cold
// rank_f(x) = hot ids of field f below x; x - rank_f(x) is x's cold ordinal, so hash=modulo is
// the reference's "cold ordinal mod nrare". bucket: kernels/bucket.hpp (modulo | xxhash).
//
// Storage: "rows" [R x d] (reshapeable: its size follows the counts, and a checkpoint loaded
// without counts takes the stored one), per field [hot rows][cold rows] with
// cold_tables=per_field, or [every field's hot rows][one shared cold table] with
// cold_tables=shared. Index state, all served and counted: "routes" [F] (AdaRoute), and the
// hot sets, per field the cheaper of (methods/id_sets.hpp)
//   sorted  "hot_ids"   [h_f] uint32: 4 B per hot id, found by binary search
//   bitset  "hot_words" [ceil(n_f/64)] uint64 + "hot_ranks" [ceil(n_f/64)] uint32: 12 B / 64 ids
// and nothing at all when the hot set is a prefix {0..h_f-1} (no counts given: ids are
// frequency ranks, TableArgs::count_or_rank) or empty or the whole field.
//
// Hot ids (select): global takes the top H ids of all compressed fields together by count
// (GlobalTopIds; without counts the fields take ranks 0, 1, 2, ... in turn); per_field (the
// reference) takes h_f = floor(p n_f) of each field's top ids. Either way ties go to the
// smaller field, then the smaller id, and ids with count 0 (unseen in training) stay cold.
//
// Sizing (plan(), methods/adaembed_plan.hpp): hot_share of the spare budget buys hot rows and
// their hot sets, the cold rows take the rest; InfeasibleBudget names the highest ratio.
//
// Departures from the reference, on purpose:
// * The remap is counted and compact: the reference keeps an n-entry int32 remap it does not
//   count (+6.25% of the full table at d = 16, so no more than 16x for real); here a field's
//   hot set costs min(4 B per hot id, 12 B per 64 ids), nothing without counts, and a cold id
//   needs no entry (its ordinal is x - rank_f(x)).
// * top_percent follows from the budget (hot_share) instead of being asserted < cr; the
//   reference's fixed share is top_percent = t.
// * Ties: the hot ids are exactly the top ones by (count desc, field asc, id asc); the
//   reference takes every id tied at the cut (so the hot share can overshoot and break its
//   nrare >= 0 assertion) or trims ties at random (exact_split).
// * One gather per id (its hot or its cold row) instead of two lookups summed with a zero row;
//   the values are the same. Init U(+-1/sqrt(max n_f)) as the reference.
// * select=global (default): the reference takes the same share of every field's ids
//   (select=per_field), which with per-field cold tables leaves a field of 2 ids (the synthetic
//   Criteo schema has several) one cold row for both; every training row holds one id per
//   field, so counts compare across fields and the hottest ids of all fields get the rows.
//
// Defaults, on validation AUC (embcomp sweep --ratios 10,100, data seeds 1-3, means over the
// seeds at 10x / 100x):
//   select:      with per-field cold tables, global 0.7755 / 0.7728 against per_field
//                0.6963 / 0.6670 (seed 1 only: the one-row collapse); with a shared cold
//                table, global 0.7494 / 0.7476 against per_field 0.7488 / 0.7448;
//   cold_tables: per_field (the reference's) 0.7516 / 0.7487 against shared 0.7494 / 0.7476;
//   hot_share:   0.5 gives 0.7516 / 0.7487, 0.3 gives 0.7477 / 0.7483, 0.7 0.7512 / 0.7480
//                (hash: 0.7484 / 0.7406).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/bucket.hpp"
#include "embcomp/methods/id_sets.hpp"
#include "embcomp/methods/adaembed_plan.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class AdaEmbedTable : public GatherTable<AdaEmbedTable> {
 public:
  static constexpr const char* kKey = "adaembed";
  static constexpr const char* kSummary =
      "frequency-adaptive: hot ids get exclusive rows, the rest share hashed rows";
  static constexpr bool kUsesCounts = true;
  static std::vector<OptionInfo> option_info() {
    return {{"hot_share", "0.5", "top_percent=auto: share of the budget's spare rows that are hot"},
            {"top_percent", "auto", "auto (from hot_share) | a fixed hot share t of each field's ids"},
            {"cold_tables", "per_field", "per_field (the reference) | shared (one cold table)"},
            {"hash", "modulo", "cold row: modulo (cold ordinal mod C, the reference) | xxhash"},
            {"select", "global", "hot ids: global (the top counts of all fields; without counts "
                                 "ranks in turn) | per_field (each field's top share, the reference)"},
            {"threshold", "0", "fields with n_f <= threshold keep a full table"}};
  }

  AdaEmbedTable(const TableArgs& args, const Options& options)
      : GatherTable(args),
        config_(parse(options)),
        kind_(options.pick<kernels::HashKind>(
            "hash", {{"modulo", kernels::HashKind::modulo}, {"xxhash", kernels::HashKind::xxhash}})),
        plan_(plan(args, config_)),
        routes_(add_index<AdaRoute>("routes")),
        hot_ids_(add_index<std::uint32_t>("hot_ids")),
        hot_words_(add_index<std::uint64_t>("hot_words")),
        hot_ranks_(add_index<std::uint32_t>("hot_ranks")),
        sets_(hot_ids_, hot_words_, hot_ranks_),
        storage_(add_parameter("rows", plan_.rows, args.schema.dim, ParamKind::rows, {},
                            ParamTraits{ParamRole::trained, 1.0f, /*reshapeable=*/true})) {
    build_routes(plan_);
    build_field_rows();
    storage_.fill_uniform(default_init_bound(args.schema), args.seed);
    set_rows_parameter(storage_);
  }

  /// Sizes a table without building it (see the header comment); throws InfeasibleBudget.
  static AdaPlan plan(const TableArgs& args, const AdaConfig& config) {
    return plan_adaembed(kKey, args, config);
  }

  const AdaConfig& config() const { return config_; }
  /// The plan the table was built with (a loaded checkpoint's state may differ: counts).
  const AdaPlan& sizing() const { return plan_; }
  const AdaRoute& route(Index field) const { return routes_[static_cast<std::size_t>(field)]; }
  /// Whether id is hot in field f.
  bool is_hot(Index field, Index id) const {
    return kernels::hot_rank(field_rows(field).hot, hot_sets(), id).hot;
  }

  Index row_of(const IdBatch& ids, Index p) const { return row_of(ids, p, ids.field_of(p)); }
  /// The row position p reads, given field = ids.field_of(p).
  Index row_of(const IdBatch& ids, Index p, Index field) const { return row_of_id(field, ids[p]); }

  /// The row id reads in field f.
  Index row_of_id(Index field, Index id) const {
    return kernels::routed_row(field_rows(field), hot_sets(), id);
  }

  /// Every field's row map (kernels::routed_row): its hot rows, and its cold table as a hashed
  /// field of the cold ordinals. Rebuilt from the routes when a checkpoint is loaded.
  const std::vector<kernels::FieldRows>& field_rows() const { return field_rows_; }
  /// Where the hot sets of field_rows() are stored.
  kernels::HotSets hot_sets() const {
    return sets_.view();
  }
  /// The stored hot sets: sorted ids, bitset words, the bitsets' ranks.
  const std::vector<std::uint32_t>& hot_ids() const { return hot_ids_.values; }
  const std::vector<std::uint64_t>& hot_words() const { return hot_words_.values; }
  const std::vector<std::uint32_t>& hot_ranks() const { return hot_ranks_.values; }

 protected:
  void on_state_loaded() override;

 private:
  static AdaConfig parse(const Options& options) {
    AdaConfig c;
    c.shared_cold = options.pick<bool>("cold_tables", {{"per_field", false}, {"shared", true}});
    c.threshold = options.integer("threshold");
    c.global = options.pick<bool>("select", {{"global", true}, {"per_field", false}});
    if (options.text("top_percent") == "auto") {
      c.hot_share = options.non_negative("hot_share");
      if (c.hot_share > 1.0) throw InvalidArgument("adaembed: hot_share must be in [0, 1]");
      return c;
    }
    options.not_applicable("hot_share", "a fixed top_percent");
    c.top_percent = options.non_negative("top_percent");
    if (c.top_percent > 1.0) throw InvalidArgument("adaembed: top_percent must be in [0, 1]");
    return c;
  }

  const kernels::FieldRows& field_rows(Index field) const {
    return field_rows_[static_cast<std::size_t>(field)];
  }

  /// field_rows_ from the routes.
  void build_field_rows() {
    field_rows_.clear();
    for (const AdaRoute& r : routes_.values) {
      const kernels::HotRows hot{r.hot, r.hot_base, static_cast<HotSet>(r.set), r.set_offset};
      field_rows_.push_back({r.cold_base, r.cold_rows, r.key_offset, r.seed, kind_, true, hot});
    }
  }

  /// Fills the routes and the hot sets of plan p (hot ids: the top h_f by count, then id).
  void build_routes(const AdaPlan& p) {
    const Schema& s = schema();
    Index next_row = 0, cold_ids_before = 0;
    const bool shared = config_.shared_cold;
    for (Index f = 0; f < s.num_fields(); ++f) {
      const auto i = static_cast<std::size_t>(f);
      AdaRoute r;
      r.hot = p.hot[i];
      r.hot_base = next_row;
      r.cold_rows = p.cold_rows[i];
      r.set = static_cast<std::int64_t>(p.sets[i]);
      r.seed = shared ? seed() : kernels::combine(seed(), static_cast<std::uint64_t>(f));
      r.key_offset = shared ? cold_ids_before : 0;
      next_row += r.hot;
      if (!shared) {
        r.cold_base = next_row;
        next_row += r.cold_rows;
      }
      cold_ids_before += r.cold_rows > 0 ? s.cardinalities[i] - r.hot : 0;
      store_hot_set(f, r);
      routes_.values.push_back(r);
    }
    if (shared) {
      for (auto& r : routes_.values) r.cold_base = next_row;
    }
  }

  /// The top h ids of field f by (count desc, id asc), in increasing id order.
  std::vector<std::uint32_t> top_ids(Index f, Index h) const {
    std::vector<std::uint32_t> ids(static_cast<std::size_t>(schema().cardinalities[static_cast<std::size_t>(f)]));
    std::iota(ids.begin(), ids.end(), 0u);
    const auto before = [&](std::uint32_t a, std::uint32_t b) {
      const auto ca = args().count_or_rank(f, a), cb = args().count_or_rank(f, b);
      return ca != cb ? ca > cb : a < b;
    };
    std::nth_element(ids.begin(), ids.begin() + h, ids.end(), before);
    ids.resize(static_cast<std::size_t>(h));
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  void store_hot_set(Index f, AdaRoute& r) {
    const auto set = static_cast<HotSet>(r.set);
    if (set == HotSet::prefix) return;
    r.set_offset = sets_.store(set, schema().cardinalities[static_cast<std::size_t>(f)], top_ids(f, r.hot));
  }

  /// Throws CheckpointError unless route f is consistent with the schema, rows and hot sets.
  void check_route(Index f) const;

  AdaConfig config_;
  kernels::HashKind kind_;
  AdaPlan plan_;
  IndexArray<AdaRoute>& routes_;
  IndexArray<std::uint32_t>& hot_ids_;
  IndexArray<std::uint64_t>& hot_words_;
  IndexArray<std::uint32_t>& hot_ranks_;
  IdSets sets_;  ///< the hot sets, in hot_ids_, hot_words_, hot_ranks_
  Parameter& storage_;  ///< "rows"
  std::vector<kernels::FieldRows> field_rows_;  ///< from routes_ (build_field_rows)
};

inline void AdaEmbedTable::on_state_loaded() {
  if (static_cast<Index>(routes_.size()) != schema().num_fields()) {
    throw CheckpointError("checkpoint damaged: adaembed routes");
  }
  sets_.check_arrays("adaembed");
  for (Index f = 0; f < schema().num_fields(); ++f) check_route(f);
  build_field_rows();
}

inline void AdaEmbedTable::check_route(Index f) const {
  const AdaRoute& r = route(f);
  const Index n = schema().cardinalities[static_cast<std::size_t>(f)];
  const Index rows = storage_.rows();
  const auto bad = [&](const char* what) {
    throw CheckpointError("checkpoint damaged: adaembed field " + std::to_string(f) + " " + what);
  };
  // Written so that no sum can overflow, whatever the file holds.
  if (r.hot < 0 || r.hot > n || r.hot_base < 0 || r.hot_base > rows - r.hot) bad("hot rows");
  if (r.cold_rows < 0 || (r.cold_rows == 0 && r.hot < n) || r.cold_base < 0 ||
      r.cold_base > rows - r.cold_rows || r.key_offset < 0) {
    bad("cold rows");
  }
  sets_.check(r.set, n, r.hot, r.set_offset, "adaembed field " + std::to_string(f) + " hot set");
}

}  // namespace embcomp
