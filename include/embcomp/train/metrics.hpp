// Evaluation metrics over a whole split: exact ROC AUC (ties count one half) and logloss.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include "embcomp/core/error.hpp"

namespace embcomp {

/// Exact ROC AUC: the probability that a random positive scores above a random negative, ties
/// counted as one half (the Mann-Whitney statistic with mid-ranks). O(n log n).
/// Throws InvalidArgument when the labels hold only one class.
inline double exact_auc(std::span<const float> scores, std::span<const float> labels) {
  if (scores.size() != labels.size()) throw InvalidArgument("auc: scores and labels differ in size");
  // A NaN breaks the sort's ordering and never equals itself, so the tie loop below would not
  // advance: refuse it.
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (std::isnan(scores[i])) {
      throw InvalidArgument("auc: score " + std::to_string(i) + " is NaN (the model's output is "
                            "not finite: diverged training or non-finite parameters)");
    }
  }
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0.0;
  double positives = 0.0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = 0.5 * static_cast<double>(i + j + 1);  // ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k) {
      if (labels[order[k]] > 0.5f) positive_rank_sum += mid_rank, positives += 1.0;
    }
    i = j;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0.0 || negatives == 0.0) {
    throw InvalidArgument("auc: labels hold a single class; AUC is undefined");
  }
  return (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives);
}

/// Mean binary cross-entropy of probabilities p (clamped to [1e-7, 1 - 1e-7]).
inline double logloss(std::span<const float> probabilities, std::span<const float> labels) {
  double sum = 0.0;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    const double p = std::clamp(static_cast<double>(probabilities[i]), 1e-7, 1.0 - 1e-7);
    sum -= labels[i] > 0.5f ? std::log(p) : std::log(1.0 - p);
  }
  return sum / static_cast<double>(probabilities.size());
}

}  // namespace embcomp
