// adaembed's sizing (methods/adaembed.hpp): the hot ids and cold rows a budget buys, decided
// before anything is allocated.
//
// The hot share p (of all compressed ids with select=global, of each field's with per_field)
// is, with top_percent=auto, the largest whose hot rows plus hot-set bytes fit hot_share of the
// budget left after the full fields (n_f <= threshold), the routes and the minimum cold rows (1
// per field with cold ids, or 1 shared); the cold rows then take every byte left (apportioned
// by cold ids with per_field; core/budget.hpp). With top_percent = t, p = t and the cold rows
// take the rest. InfeasibleBudget names the highest ratio (p = 0: one cold row per compressed
// field, or t's hot rows) otherwise. A field's hot set costs the cheaper of 4 B per hot id
// (sorted) or 12 B per 64 ids (a ranked bitset), nothing for a rank prefix.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/kernels/row_map.hpp"
#include "embcomp/methods/id_sets.hpp"
#include "embcomp/table.hpp"

namespace embcomp {


/// Where field f's ids go; one per field in the index state "routes".
struct AdaRoute {
  std::int64_t hot = 0;          ///< h_f: hot ids
  std::int64_t hot_base = 0;     ///< first of its h_f exclusive rows
  std::int64_t cold_base = 0;    ///< first row of its cold table
  std::int64_t cold_rows = 0;    ///< C_f: rows of its cold table (0: every id hot)
  std::int64_t key_offset = 0;   ///< added to the cold ordinal (shared table: earlier fields' cold ids)
  std::int64_t set = 0;          ///< HotSet
  std::int64_t set_offset = 0;   ///< first entry in hot_ids (sorted) or hot_words (bitset)
  std::uint64_t seed = 0;        ///< bucket seed
};

/// The options of an AdaEmbedTable.
struct AdaConfig {
  double hot_share = 0.5;     ///< share of the spare budget for hot rows (top_percent < 0)
  double top_percent = -1.0;  ///< fixed hot share of the ids; < 0: auto
  bool shared_cold = false;   ///< one cold table for every field
  bool global = true;         ///< hot ids: the top counts of all fields (else each field's top share)
  long long threshold = 0;    ///< fields with n_f <= threshold keep a full table
};

/// The top H ids of several fields together by (score desc, field asc, id asc), as hot ids
/// per field: h_f = #(score_f > k) + the first of field f's ties at k, where k is the H-th
/// largest score. The score is the training-split count, or without counts max_f n_f - id (so
/// the fields take ranks 0, 1, 2, ... in turn). With counts it holds each field's counts sorted
/// (8 B per id) while a table is sized.
class GlobalTopIds {
 public:
  /// `fields`: the fields taking part (the others get h_f = 0).
  GlobalTopIds(const TableArgs& args, const std::vector<bool>& fields) : sizes_(fields.size(), 0) {
    const Schema& s = args.schema;
    for (std::size_t f = 0; f < fields.size(); ++f) {
      if (!fields[f]) continue;
      sizes_[f] = s.cardinalities[f];
      max_score_ = std::max(max_score_, static_cast<std::uint64_t>(s.max_cardinality()));
    }
    if (!args.counts) return;
    max_score_ = 0;
    sorted_.resize(fields.size());
    for (std::size_t f = 0; f < fields.size(); ++f) {
      if (!fields[f]) continue;
      sorted_[f] = (*args.counts)[f];
      std::sort(sorted_[f].begin(), sorted_[f].end(), std::greater<>());
      max_score_ = std::max(max_score_, sorted_[f].empty() ? 0 : sorted_[f].front());
    }
  }

  /// Ids with a score > 0 (unseen ids have count 0), the most hot() takes.
  Index seen() const { return at_least(1); }

  /// h_f of the top `total` ids (total <= seen()).
  std::vector<Index> hot(Index total) const {
    std::vector<Index> h(sizes_.size(), 0);
    if (total <= 0) return h;
    // k: the largest score with at_least(k) >= total.
    const auto k = static_cast<std::uint64_t>(largest_fitting(
        1, static_cast<Index>(max_score_),
        [&](Index c) { return at_least(static_cast<std::uint64_t>(c)) >= total; }));
    Index ties = total - at_least(k + 1);
    for (std::size_t f = 0; f < sizes_.size(); ++f) {
      const Index above = count_at_least(f, k + 1);
      const Index tied = std::min(ties, count_at_least(f, k) - above);
      h[f] = above + tied;
      ties -= tied;
    }
    return h;
  }

 private:
  /// Ids of field f with a score >= c.
  Index count_at_least(std::size_t f, std::uint64_t c) const {
    if (sorted_.empty()) {  // scores max_score - id, id in [0, n_f)
      return c > max_score_ ? 0 : std::min(sizes_[f], static_cast<Index>(max_score_ - c + 1));
    }
    const auto& s = sorted_[f];
    return std::partition_point(s.begin(), s.end(), [c](std::uint64_t v) { return v >= c; }) - s.begin();
  }
  Index at_least(std::uint64_t c) const {
    Index n = 0;
    for (std::size_t f = 0; f < sizes_.size(); ++f) n += count_at_least(f, c);
    return n;
  }

  std::vector<Index> sizes_;                       ///< n_f of the fields taking part, else 0
  std::vector<std::vector<std::uint64_t>> sorted_;  ///< counts desc (empty without counts)
  std::uint64_t max_score_ = 0;
};

/// The sizing decision, computed before anything is allocated.
struct AdaPlan {
  std::vector<Index> hot;        ///< h_f
  std::vector<Index> cold_rows;  ///< C_f (shared: the shared table's rows for every cold field)
  std::vector<HotSet> sets;      ///< how each field stores its hot set
  Index rows = 0;                ///< R: rows of "rows"
  double serving_bytes = 0;      ///< rows, routes and hot sets
};

/// The cost model of adaembed's sizing: bytes as a function of the hot share of ids p.
class AdaSizing {
 public:
AdaSizing(const char* key, const TableArgs& args, const AdaConfig& config)
    : key_(key), args_(args), config_(config) {
    const Schema& s = args.schema;
    row_ = static_cast<double>(s.dim) * sizeof(float);
    fixed_ = routes_bytes();
    for (Index f = 0; f < s.num_fields(); ++f) {
      const Index n = s.cardinalities[static_cast<std::size_t>(f)];
      if (n > Index{UINT32_MAX}) throw InvalidArgument("adaembed: a field has more than 2^32 - 1 ids");
      kept_.push_back(n <= config.threshold);
      seen_.push_back(kept_.back() ? n : seen_ids(args, f));
      if (kept_.back()) fixed_ += static_cast<double>(n) * row_;
      compressed_.push_back(!kept_.back());
      if (!kept_.back()) compressed_ids_ += n;
    }
    if (config.global) global_.emplace(args, compressed_);
  }

  /// h_f at share p: of all compressed ids together (global) or of each field's.
  std::vector<Index> hot_at(double p) const {
    if (global_) {
      const auto total = static_cast<Index>(std::floor(p * static_cast<double>(compressed_ids_)));
      std::vector<Index> hot = global_->hot(std::min(total, global_->seen()));
      for (std::size_t f = 0; f < hot.size(); ++f) {
        if (kept_[f]) hot[f] = args_.schema.cardinalities[f];
      }
      return hot;
    }
    std::vector<Index> hot;
    for (std::size_t f = 0; f < seen_.size(); ++f) {
      const auto n = args_.schema.cardinalities[f];
      const auto share = static_cast<Index>(std::floor(p * static_cast<double>(n)));
      hot.push_back(kept_[f] ? n : std::min(share, seen_[f]));
    }
    return hot;
  }

  /// Bytes of the hot rows and hot sets for h.
  double hot_bytes(const std::vector<Index>& hot) const {
    double bytes = 0;
    for (std::size_t f = 0; f < hot.size(); ++f) {
      if (kept_[f]) continue;
      const Index n = args_.schema.cardinalities[f];
      bytes += static_cast<double>(hot[f]) * row_ + id_set_bytes(n, hot[f], choose_set(n, hot[f]));
    }
    return bytes;
  }

  /// Cold tables needed for h: fields with cold ids (per_field) or 1 (shared), or 0.
  Index min_cold(const std::vector<Index>& hot) const {
    Index fields = 0;
    for (std::size_t f = 0; f < hot.size(); ++f) {
      fields += hot[f] < args_.schema.cardinalities[f] ? 1 : 0;
    }
    return config_.shared_cold ? std::min<Index>(fields, 1) : fields;
  }

  /// The largest p whose hot bytes fit hot_share of the spare budget.
  double auto_share() const {
    const std::vector<Index> none = hot_at(0.0);
    const double floor_bytes = fixed_ + static_cast<double>(min_cold(none)) * row_;
    require_budget(key_, floor_bytes, args_);
    const double hot_limit = config_.hot_share * (args_.budget.bytes(args_.schema) - floor_bytes);
    const auto fits = [&](double p) { return hot_bytes(hot_at(p)) <= hot_limit; };
    if (fits(1.0)) return 1.0;
    return bisect(0.0, 1.0, fits).below;
  }

  /// The plan at share p; the cold rows take what is left. `fixed`: p was given (top_percent).
  AdaPlan at(double p, bool fixed) const {
    AdaPlan plan;
    plan.hot = hot_at(p);
    const double hot = hot_bytes(plan.hot);
    const Index tables = min_cold(plan.hot);
    const double need = fixed_ + hot + static_cast<double>(tables) * row_;
    if (fixed) require_budget(key_, need, args_);
    const double left = args_.budget.bytes(args_.schema) - fixed_ - hot;
    plan.cold_rows = cold_rows(plan.hot, static_cast<Index>(std::floor(left / row_)), tables);
    const Schema& s = args_.schema;
    for (Index f = 0; f < s.num_fields(); ++f) {
      const auto i = static_cast<std::size_t>(f);
      plan.sets.push_back(kept_[i] ? HotSet::prefix : choose_set(s.cardinalities[i], plan.hot[i]));
      plan.rows += plan.hot[i] + (config_.shared_cold ? 0 : plan.cold_rows[i]);
    }
    if (config_.shared_cold && tables > 0) plan.rows += shared_rows(plan.cold_rows);
    plan.serving_bytes = routes_bytes() + static_cast<double>(plan.rows) * row_;
    for (Index f = 0; f < s.num_fields(); ++f) {
      const auto i = static_cast<std::size_t>(f);
      plan.serving_bytes += id_set_bytes(s.cardinalities[i], plan.hot[i], plan.sets[i]);
    }
    return plan;
  }

 private:
  /// Ids of field f with a count > 0 (all of them without counts).
  static Index seen_ids(const TableArgs& args, Index f) {
    const Index n = args.schema.cardinalities[static_cast<std::size_t>(f)];
    if (!args.counts) return n;
    const auto& c = (*args.counts)[static_cast<std::size_t>(f)];
    return static_cast<Index>(std::count_if(c.begin(), c.end(), [](std::uint64_t v) { return v > 0; }));
  }

  /// The cheapest hot-set encoding of h of n ids: nothing for a prefix (no counts), none or
  /// all; else sorted or bitset.
  HotSet choose_set(Index n, Index h) const {
    if (!args_.counts || h == 0 || h == n) return HotSet::prefix;
    return cheaper_stored_set(n, h);
  }

  /// C_f: `total` cold rows (at least `tables`) over the fields with cold ids, in proportion
  /// to their cold ids (per_field), or all in one table (shared, the same C_f for each).
  std::vector<Index> cold_rows(const std::vector<Index>& hot, Index total, Index tables) const {
    std::vector<Index> cold_ids;
    for (std::size_t f = 0; f < hot.size(); ++f) {
      const Index n = args_.schema.cardinalities[f];
      if (hot[f] < n) cold_ids.push_back(n - hot[f]);
    }
    std::vector<Index> rows(hot.size(), 0);
    if (tables == 0) return rows;
    total = std::max(total, tables);
    std::vector<Index> per_table =
        config_.shared_cold
            ? std::vector<Index>{std::min(total, std::accumulate(cold_ids.begin(), cold_ids.end(), Index{0}))}
            : apportion_rows(cold_ids, total);
    std::size_t next = 0;
    for (std::size_t f = 0; f < hot.size(); ++f) {
      if (hot[f] == args_.schema.cardinalities[f]) continue;
      rows[f] = per_table[config_.shared_cold ? 0 : next++];
    }
    return rows;
  }

  static Index shared_rows(const std::vector<Index>& cold_rows) {
    return *std::max_element(cold_rows.begin(), cold_rows.end());
  }

  double routes_bytes() const {
    return static_cast<double>(args_.schema.num_fields()) * sizeof(AdaRoute);
  }

  const char* key_;
  const TableArgs& args_;
  const AdaConfig& config_;
  double row_ = 0;
  double fixed_ = 0;  ///< routes and full fields
  std::vector<bool> kept_;
  std::vector<bool> compressed_;
  std::vector<Index> seen_;
  Index compressed_ids_ = 0;
  std::optional<GlobalTopIds> global_;
};

/// The plan `args` and `config` buy for method `key` (named in InfeasibleBudget).
inline AdaPlan plan_adaembed(const char* key, const TableArgs& args, const AdaConfig& config) {
  const AdaSizing sizing(key, args, config);
  if (config.top_percent >= 0) return sizing.at(config.top_percent, /*fixed=*/true);
  return sizing.at(sizing.auto_share(), /*fixed=*/false);
}

}  // namespace embcomp
