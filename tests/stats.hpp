// Statistics for tests whose claims are about noisy outcomes (AUC, recall): a claim is checked
// over several seeds with its standard error, never on one measured run.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace embcomp::test {

struct MeanAndError {
  double mean = 0.0;
  double sd = 0.0;  ///< sample standard deviation (n - 1)
  double se = 0.0;  ///< standard error of the mean, sd / sqrt(n)
};

/// Mean, sample standard deviation and standard error of `values` (at least 2).
inline MeanAndError mean_and_error(const std::vector<double>& values) {
  if (values.size() < 2) throw std::invalid_argument("mean_and_error needs 2 or more values");
  const auto n = static_cast<double>(values.size());
  double sum = 0.0;
  for (double v : values) sum += v;
  const double mean = sum / n;
  double squares = 0.0;
  for (double v : values) squares += (v - mean) * (v - mean);
  const double sd = std::sqrt(squares / (n - 1.0));
  return {mean, sd, sd / std::sqrt(n)};
}

/// The one-sided 99% quantile of Student's t with `df` degrees of freedom (1-10): a paired
/// difference whose mean exceeds this many standard errors is positive at the 1% level.
inline double student_t99(std::size_t df) {
  static constexpr double kQuantiles[] = {31.821, 6.965, 4.541, 3.747, 3.365,
                                          3.143,  2.998, 2.896, 2.821, 2.764};
  if (df < 1 || df > 10) throw std::invalid_argument("student_t99: df must be in 1..10");
  return kQuantiles[df - 1];
}

}  // namespace embcomp::test

namespace embcomp::test {

/// Standard error of an AUC measured on `positives` and `negatives` rows (Hanley & McNeil,
/// Radiology 1982): how far the AUC of the same scorer moves from one test sample to another.
inline double auc_standard_error(double auc, double positives, double negatives) {
  const double q1 = auc / (2.0 - auc);
  const double q2 = 2.0 * auc * auc / (1.0 + auc);
  const double variance = (auc * (1.0 - auc) + (positives - 1.0) * (q1 - auc * auc) +
                           (negatives - 1.0) * (q2 - auc * auc)) /
                          (positives * negatives);
  return std::sqrt(variance);
}

}  // namespace embcomp::test
