// The budget solver every method that sizes a knob from its memory budget uses: bisection on a
// monotone "fits" predicate (over reals and over integers), and the split of a row budget
// between fields in proportion to their sizes. InfeasibleBudget (with the highest reachable
// ratio) is thrown by the method, which knows its smallest form (table.hpp require_budget).
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

/// Two points on either side of a predicate's boundary: pred(below) != pred(above).
struct Bracket {
  double below;
  double above;
};

/// Narrows [below, above], across which the monotone predicate `pred` changes value, to a
/// bracket of width <= tolerance around the change. E.g. MDE's smallest alpha whose dims fit
/// is bisect(0, 1, fits).above; the largest share of rows that fits is .below.
template <class Pred>
Bracket bisect(double below, double above, Pred pred, double tolerance = 1e-12) {
  const bool at_below = pred(below);
  while (above - below > tolerance) {
    const double mid = 0.5 * (below + above);
    (pred(mid) == at_below ? below : above) = mid;
  }
  return {below, above};
}

/// The largest integer x in [lo, hi] with fits(x), for fits true up to some point and false
/// after it; lo - 1 when fits(lo) is false. O(log(hi - lo)) calls.
template <class Fits>
Index largest_fitting(Index lo, Index hi, Fits fits) {
  Index best = lo - 1;
  while (lo <= hi) {
    const Index mid = lo + (hi - lo) / 2;
    if (fits(mid)) {
      best = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/// The smallest t >= 1 with t^power >= n (integer roots, no floating-point edge cases); for
/// the sizes of tables (t^power must fit in an Index).
inline Index ceil_root(Index n, int power) {
  const auto reaches = [&](Index t) {
    Index p = 1;
    for (int i = 0; i < power; ++i) p *= t;
    return p >= n;
  };
  Index t = std::max<Index>(1, static_cast<Index>(std::pow(static_cast<double>(n), 1.0 / power)) - 1);
  while (!reaches(t)) ++t;
  return t;
}

/// The reference's per-field rule (spec methods-inter.md §0.4, used by qr, tt and dhe): a field
/// of n ids is compressed only if n > threshold and its compressed form takes fewer floats
/// than its full [n x dim] table; otherwise it keeps the full table.
struct FieldRule {
  long long threshold = 0;
  Index dim = 1;

  bool compresses(Index n, double compressed_floats) const {
    return n > threshold && compressed_floats < static_cast<double>(n * dim);
  }
  /// Floats the field takes under the rule: its compressed form or its full table.
  double floats(Index n, double compressed_floats) const {
    return compresses(n, compressed_floats) ? compressed_floats : static_cast<double>(n * dim);
  }
};

/// Rows per field when `total` rows are shared between fields of `sizes` ids in proportion to
/// their size: m_f = clamp(floor(n_f s), 1, n_f) at the largest share s whose sum fits
/// `total`. Every field gets at least one row; a field never gets more rows than ids. Throws
/// InvalidArgument when total < sizes.size() (the caller reports the budget as infeasible
/// first).
inline std::vector<Index> apportion_rows(std::span<const Index> sizes, Index total) {
  const auto fields = static_cast<Index>(sizes.size());
  if (total < fields) {
    throw InvalidArgument("apportion_rows: " + std::to_string(total) + " rows for " +
                          std::to_string(fields) + " fields");
  }
  const auto rows_at = [&](double share) {
    std::vector<Index> rows;
    rows.reserve(sizes.size());
    for (Index n : sizes) {
      rows.push_back(std::clamp<Index>(static_cast<Index>(std::floor(static_cast<double>(n) * share)), 1, n));
    }
    return rows;
  };
  const auto sum = [](const std::vector<Index>& rows) {
    Index s = 0;
    for (Index r : rows) s += r;
    return s;
  };
  const auto fits = [&](double share) { return sum(rows_at(share)) <= total; };
  if (fits(1.0)) return rows_at(1.0);  // every field whole
  return rows_at(bisect(0.0, 1.0, fits).below);  // share 0 fits: one row per field
}

}  // namespace embcomp
