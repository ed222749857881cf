// autodim's width choice (methods/autodim.hpp): candidate widths, each field's serving bytes at
// a width, and the budget-aware choice
//   c(f) = argmax_k score[f][k] - lambda bytes_f(k),   bytes_f(k) = 4 (n_f w_k + w_k d + d),
// at the smallest lambda >= 0 whose total fits the budget (bisected): argmax score whenever
// that fits. score is log_softmax(alpha_f). The Lagrangian choice is optimal for the bytes it
// takes; it may leave part of the budget unused.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/table.hpp"

namespace embcomp::autodim {

inline constexpr const char* kKey = "autodim";

/// min_width, 2 min_width, ... below d, then d. Throws unless 1 <= min_width <= d.
inline std::vector<Index> candidate_widths(Index d, std::int64_t min_width) {
  if (min_width < 1 || min_width > d) {
    throw InvalidArgument("autodim: min_width must be in [1, d = " + std::to_string(d) +
                          "], got " + std::to_string(min_width));
  }
  std::vector<Index> widths;
  for (Index w = static_cast<Index>(min_width); w < d; w *= 2) widths.push_back(w);
  widths.push_back(d);
  return widths;
}

/// Serving bytes of field f at width w: its rows, projection and bias.
inline double field_bytes(const Schema& schema, Index f, Index w) {
  const Index floats = schema.cardinalities[f] * w + w * schema.dim + schema.dim;
  return static_cast<double>(floats) * sizeof(float);
}
inline double serving_bytes(const Schema& schema, const std::vector<Index>& widths,
                            const std::vector<std::uint8_t>& choice) {
  double bytes = 0.0;
  for (Index f = 0; f < schema.num_fields(); ++f) bytes += field_bytes(schema, f, widths[choice[f]]);
  return bytes;
}

/// choice[f] (an index into widths) maximising sum_f score[f][c(f)] (score [F x K]) within
/// `budget`: per field argmax_k score[f][k] - lambda field_bytes(f, w_k), ties to the
/// narrower, at the smallest lambda >= 0 that fits (see the top). Throws InfeasibleBudget
/// when even the narrowest widths do not fit.
inline std::vector<std::uint8_t> choose_widths(const Schema& schema, const std::vector<Index>& widths,
                                               const std::vector<float>& score, const Budget& budget) {
  const double budget_bytes = budget.bytes(schema);
  const Index F = schema.num_fields();
  const auto K = static_cast<Index>(widths.size());
  std::vector<std::uint8_t> choice(static_cast<std::size_t>(F));
  const auto pick = [&](double lambda) {
    for (Index f = 0; f < F; ++f) {
      double best = -std::numeric_limits<double>::infinity();
      for (Index k = 0; k < K; ++k) {
        const double value = score[f * K + k] - lambda * field_bytes(schema, f, widths[k]);
        if (value > best) best = value, choice[f] = static_cast<std::uint8_t>(k);
      }
    }
    return serving_bytes(schema, widths, choice) <= budget_bytes;
  };
  if (pick(0.0)) return choice;
  const auto [lowest, highest] = std::minmax_element(score.begin(), score.end());
  // Above this, no score gap pays for the smallest step in bytes (d floats): all narrowest.
  double hi = (static_cast<double>(*highest - *lowest) + 1.0) / (4.0 * static_cast<double>(schema.dim));
  if (!pick(hi)) {
    throw_infeasible(kKey, serving_bytes(schema, widths, choice), {schema, budget, 0});
  }
  double lo = 0.0;
  for (int i = 0; i < 200 && lo < hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (pick(mid) ? hi : lo) = mid;
  }
  pick(hi);
  return choice;
}

}  // namespace embcomp::autodim
