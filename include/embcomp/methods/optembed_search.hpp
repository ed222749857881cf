// optembed's search apart from the table (methods/optembed.hpp): which rows a width choice
// keeps within the budget, and the evolutionary search over per-field widths.
//
// Kept rows. After the supernet, row r of field f scores s_r = |E[r]|_1 - t_f; rows with
// s_r <= 0 are pruned by the thresholds (the reference stops here). The budget (the reference
// has none) keeps, for widths w [F], the best-scoring rows that fit: rows ranked by s_r
// descending (ties: lower global row first), each kept while the running bytes allow, where a
// field costs its layout entry and one row (always held) and each further kept row
// 4 w_f + 4 B (its entries and, at most, its sorted id). The served bytes are at most that
// (methods/kept_rows.hpp: a bitset or a prefix can be cheaper), so the budget holds; what the
// cheaper sets leave is offered again in more rounds, each kept only if it still fits.
//
// Evolutionary search (spec §6 (e)), candidates w in {1..d}^F (the reference's c = w - 1), each
// scored by `fitness` (validation AUC with the candidate's rows and widths); a candidate seen
// before is not scored again. Each generation: sort by fitness (descending, stable), keep the
// first `keep`, add `mutations` copies of the first ones (each field redrawn uniformly with
// probability mutation_prob) and `crossovers` children of distinct pairs (x, y) of the first
// `crossovers` (one point in [1, F)). The best scored candidate is returned. The reference's
// pitfalls (mutation in place, which alters the recorded best and the crossover parents; the
// crossover point drawn from [1, d)) are not reproduced: they are defects, not choices.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <utility>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/schema.hpp"
#include "embcomp/kernels/random.hpp"
#include "embcomp/methods/kept_rows.hpp"

namespace embcomp::optembed {

inline constexpr const char* kKey = "optembed";

/// Per-field widths w_f in [1, d].
using Widths = std::vector<Index>;

/// A row the thresholds keep: field f's id, with its score s.
struct RankedRow {
  Index field = 0;
  std::uint32_t id = 0;
};

/// Rows with score > 0, best first; scores [N] over the stacked rows (field f's id i at
/// offset_f + i).
inline std::vector<RankedRow> rank_rows(const Schema& schema, const std::vector<float>& scores) {
  const std::vector<Index> offsets = schema.field_offsets();
  std::vector<Index> rows;
  for (Index r = 0; r < static_cast<Index>(scores.size()); ++r) {
    if (scores[static_cast<std::size_t>(r)] > 0.0f) rows.push_back(r);
  }
  std::stable_sort(rows.begin(), rows.end(), [&](Index a, Index b) {
    return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)];
  });
  std::vector<RankedRow> out;
  out.reserve(rows.size());
  for (Index r : rows) {
    const auto f = static_cast<Index>(std::upper_bound(offsets.begin(), offsets.end(), r) - offsets.begin()) - 1;
    out.push_back({f, static_cast<std::uint32_t>(r - offsets[static_cast<std::size_t>(f)])});
  }
  return out;
}

/// Bytes a field holds whatever it keeps: its layout entry and one row of width w.
inline double field_fixed_bytes(Index w) { return static_cast<double>(sizeof(KeptField)) + 4.0 * static_cast<double>(w); }
/// The most a kept row adds: its entries and its sorted id.
inline double row_bytes_bound(Index w) { return 4.0 * static_cast<double>(w) + kSortedBytesPerId; }

/// The smallest serving size: every field at width 1 keeping nothing.
inline double min_bytes(const Schema& schema) {
  return static_cast<double>(schema.num_fields()) * field_fixed_bytes(1);
}

/// w narrowed (the widest field first, the lowest index among equals) until every field's
/// fixed bytes fit `bytes`; requires bytes >= min_bytes.
inline Widths fit_widths(Widths w, double bytes) {
  double fixed = 0.0;
  for (Index x : w) fixed += field_fixed_bytes(x);
  while (fixed > bytes) {
    auto widest = std::max_element(w.begin(), w.end());
    if (*widest <= 1) break;
    --*widest;
    fixed -= 4.0;
  }
  return w;
}

/// The ids each field keeps (increasing) under widths w with `allowance` bytes for the bound:
/// the ranked rows in order, each while its bound fits (see the header comment).
inline std::vector<std::vector<std::uint32_t>> kept_ids_bounded(const Schema& schema,
                                                                const std::vector<RankedRow>& ranked,
                                                                const Widths& w, double allowance) {
  std::vector<std::vector<std::uint32_t>> kept(static_cast<std::size_t>(schema.num_fields()));
  double used = 0.0;
  for (Index x : w) used += field_fixed_bytes(x);
  for (const RankedRow& row : ranked) {
    const double cost = row_bytes_bound(w[static_cast<std::size_t>(row.field)]);
    if (used + cost > allowance) continue;
    used += cost;
    kept[static_cast<std::size_t>(row.field)].push_back(row.id);
  }
  for (auto& ids : kept) std::sort(ids.begin(), ids.end());
  return kept;
}

/// The bytes served for `kept` ids at widths w, each field's set in its cheapest encoding.
inline double served_bytes(const Schema& schema, const std::vector<std::vector<std::uint32_t>>& kept,
                           const Widths& w) {
  double bytes = 0.0;
  for (std::size_t f = 0; f < kept.size(); ++f) {
    const Index n = schema.cardinalities[f];
    bytes += kept_field_bytes(n, static_cast<Index>(kept[f].size()), w[f], cheapest_id_set(n, kept[f]));
  }
  return bytes;
}

/// The ids each field keeps under widths w within `bytes`: kept_ids_bounded, whose bound
/// counts 4 B of set per row, then again with what the cheaper sets left unused added to the
/// allowance (up to 16 rounds, until less than a row is left), while a round serves more bytes
/// and they fit. A wider allowance may keep a better-ranked row in place of narrower ones.
inline std::vector<std::vector<std::uint32_t>> kept_ids(const Schema& schema,
                                                        const std::vector<RankedRow>& ranked,
                                                        const Widths& w, double bytes) {
  constexpr int kRounds = 16;
  auto kept = kept_ids_bounded(schema, ranked, w, bytes);
  double allowance = bytes, unused = bytes - served_bytes(schema, kept, w);
  for (int round = 1; round < kRounds && unused >= row_bytes_bound(1); ++round) {
    allowance += unused;
    auto more = kept_ids_bounded(schema, ranked, w, allowance);
    const double served = served_bytes(schema, more, w);
    if (served > bytes || bytes - served >= unused) break;  // over the budget, or no gain
    unused = bytes - served;
    kept = std::move(more);
  }
  return kept;
}

/// The evolutionary search's settings (the reference's defaults but generations).
struct EvolutionConfig {
  Index generations = 30;
  Index keep = 0;
  Index mutations = 10;
  Index crossovers = 10;
  double mutation_prob = 0.1;
  /// Also start from every uniform width 1, 2, 4, ..., d (else only random candidates, the
  /// reference).
  bool seed_uniform = true;
  std::uint64_t seed = 0;
};

/// What the search found.
struct EvolutionResult {
  Widths best;
  double best_fitness = 0.0;
  Index evaluations = 0;  ///< fitness calls (distinct candidates)
};

/// The evolutionary search over {1..d}^F with `fitness` (higher is better).
class Evolution {
 public:
  Evolution(Index fields, Index dim, EvolutionConfig config)
      : fields_(fields), dim_(dim), config_(config), stream_(kernels::combine(config.seed, 0xE7011ULL)) {}

  EvolutionResult run(const std::function<double(const Widths&)>& fitness) {
    std::vector<Widths> population = initial_population();
    EvolutionResult result;
    result.best_fitness = -1.0;
    for (Index g = 0; g < config_.generations; ++g) {
      std::vector<std::pair<double, Widths>> scored;
      for (Widths& w : population) scored.emplace_back(score(w, fitness), std::move(w));
      std::stable_sort(scored.begin(), scored.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      if (scored.front().first > result.best_fitness) {
        result.best_fitness = scored.front().first;
        result.best = scored.front().second;
      }
      population = next_generation(scored);
    }
    result.evaluations = static_cast<Index>(seen_.size());
    return result;
  }

 private:
  Index population_size() const { return config_.keep + config_.mutations + config_.crossovers; }

  double score(const Widths& w, const std::function<double(const Widths&)>& fitness) {
    const auto found = seen_.find(w);
    if (found != seen_.end()) return found->second;
    return seen_[w] = fitness(w);
  }

  /// A uniform draw in [0, n) from the search's stream.
  Index draw(Index n) { return static_cast<Index>(kernels::uniform_below(stream_, counter_++, static_cast<std::uint64_t>(n))); }

  std::vector<Widths> initial_population() {
    std::vector<Widths> out;
    if (config_.seed_uniform) {
      for (Index w = 1; w < dim_ && static_cast<Index>(out.size()) < population_size(); w *= 2) {
        out.emplace_back(static_cast<std::size_t>(fields_), w);
      }
      if (static_cast<Index>(out.size()) < population_size()) out.emplace_back(static_cast<std::size_t>(fields_), dim_);
    }
    while (static_cast<Index>(out.size()) < population_size()) {
      Widths w(static_cast<std::size_t>(fields_));
      for (Index& x : w) x = 1 + draw(dim_);
      out.push_back(std::move(w));
    }
    return out;
  }

  std::vector<Widths> next_generation(const std::vector<std::pair<double, Widths>>& sorted) {
    const auto n = static_cast<Index>(sorted.size());
    std::vector<Widths> out;
    for (Index i = 0; i < std::min(config_.keep, n); ++i) out.push_back(sorted[i].second);
    for (Index i = 0; i < config_.mutations; ++i) {
      Widths w = sorted[static_cast<std::size_t>(i % n)].second;
      for (Index& x : w) {
        if (kernels::uniform01(stream_, counter_++) < config_.mutation_prob) x = 1 + draw(dim_);
      }
      out.push_back(std::move(w));
    }
    const Index parents = std::min(config_.crossovers, n);
    std::set<std::pair<Index, Index>> pairs;
    for (Index i = 0; i < config_.crossovers; ++i) {
      std::pair<Index, Index> xy{draw(parents), draw(parents)};
      while (pairs.size() < static_cast<std::size_t>(parents * parents) && pairs.count(xy) != 0) {
        xy = {draw(parents), draw(parents)};
      }
      pairs.insert(xy);
      const Widths& x = sorted[static_cast<std::size_t>(xy.first)].second;
      const Widths& y = sorted[static_cast<std::size_t>(xy.second)].second;
      const Index point = fields_ > 1 ? 1 + draw(fields_ - 1) : fields_;
      Widths child(x.begin(), x.begin() + point);
      child.insert(child.end(), y.begin() + point, y.end());
      out.push_back(std::move(child));
    }
    return out;
  }

  Index fields_;
  Index dim_;
  EvolutionConfig config_;
  std::uint64_t stream_;
  std::uint64_t counter_ = 0;
  std::map<Widths, double> seen_;
};

}  // namespace embcomp::optembed
