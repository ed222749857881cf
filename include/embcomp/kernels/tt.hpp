// Tensor-train (TT-Rec) index math and the contraction of three cores (spec methods-inter.md
// §3). A table of n rows and d = d0 d1 d2 columns is three cores with ranks (1, R, R, 1):
//   G0 [n0 x (d0 R)]   row i0 as [d0 x R]        (a, r1)      at a * R + r1
//   G1 [n1 x (R d1 R)] row i1 as [R x d1 x R]    (r1, b, r2)  at (r1 * d1 + b) * R + r2
//   G2 [n2 x (R d2)]   row i2 as [R x d2]        (r2, c)      at r2 * d2 + c
// Id x reads rows i0 = x mod n0, i1 = (x div n0) mod n1, i2 = (x div n0) div n1 (mixed radix,
// n0 n1 n2 >= n), and
//   e[(a d1 + b) d2 + c] = sum_{r1, r2} G0[i0][a, r1] G1[i1][r1, b, r2] G2[i2][r2, c]
// computed as T = G0 row @ G1 row ([d0 x R] @ [R x d1 R] -> [d0 d1 x R]), then e = T @ G2 row.
// Per id: d0 d1 R^2 + d R multiply-adds.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// The shape of one TT table: row factors (n0, n1, n2), dim factors (d0, d1, d2) and rank R.
struct TtShape {
  std::array<Index, 3> rows{1, 1, 1};
  std::array<Index, 3> dims{1, 1, 1};
  Index rank = 1;

  EMBCOMP_HD Index dim() const { return dims[0] * dims[1] * dims[2]; }
  /// Widths of a row of G0, G1, G2: d0 R, R d1 R, R d2.
  EMBCOMP_HD Index width(int core) const {
    return core == 0 ? dims[0] * rank : core == 1 ? rank * dims[1] * rank : rank * dims[2];
  }
  /// Floats of the three cores: (n0 d0 + n1 d1 R + n2 d2) R.
  EMBCOMP_HD Index floats() const { return (rows[0] * dims[0] + rows[1] * dims[1] * rank + rows[2] * dims[2]) * rank; }
  /// Floats of T = G0 row @ G1 row, the contraction's intermediate: d0 d1 R.
  EMBCOMP_HD Index scratch() const { return dims[0] * dims[1] * rank; }
};

/// The reference's row factors of n: a = ceil(n^(1/3)), b = ceil(sqrt(n / a)),
/// c = ceil(n / (a b)); returns [c, b, a] (Criteo's 33,762,577 ids -> [323, 323, 324]).
inline std::array<Index, 3> tt_row_factors(Index n) {
  const Index a = ceil_root(n, 3);
  Index b = 1;
  while (b * b * a < n) ++b;
  const Index c = (n + a * b - 1) / (a * b);
  return {c, b, a};
}

/// The reference's dim factors of d: for a power of two >= 8, [2, 2, 2] with the remaining
/// factors of 2 handed out round-robin from the last slot (16 -> [2,2,4], 32 -> [2,4,4],
/// 64 -> [4,4,4], 128 -> [4,4,8]); otherwise n1 = the largest divisor of d <= ceil(d^(1/3)),
/// n2 = the largest divisor of d / n1 <= ceil(sqrt(d / n1)), n3 = d / (n1 n2), sorted.
inline std::array<Index, 3> tt_dim_factors(Index d) {
  const bool power_of_two = d >= 8 && (d & (d - 1)) == 0;
  if (power_of_two) {
    std::array<Index, 3> f{2, 2, 2};
    int slot = 2;
    for (Index rest = d / 8; rest > 1; rest /= 2) {
      f[slot] *= 2;
      slot = slot == 0 ? 2 : slot - 1;
    }
    return f;
  }
  const auto largest_divisor_at_most = [](Index n, Index limit) {
    Index best = 1;
    for (Index v = 1; v <= std::min(n, limit); ++v) {
      if (n % v == 0) best = v;
    }
    return best;
  };
  const Index n1 = largest_divisor_at_most(d, ceil_root(d, 3));
  const Index n2 = largest_divisor_at_most(d / n1, ceil_root(d / n1, 2));
  std::array<Index, 3> f{n1, n2, d / (n1 * n2)};
  std::sort(f.begin(), f.end());
  return f;
}

/// The core rows id x reads: i0 = x mod n0, i1 = (x div n0) mod n1, i2 = (x div n0) div n1.
EMBCOMP_HD void tt_rows(const TtShape& s, Index x, Index* i) {
  const Index rest = x / s.rows[0];
  i[0] = x % s.rows[0];
  i[1] = rest % s.rows[1];
  i[2] = rest / s.rows[1];
}

/// Where one TT table (a field's, or the one shared by every field) lives in a tt table's
/// stacked parameters: a compressed table's rows in core0..2 from base[0..2], an uncompressed
/// one's in "full" from base[0].
struct TtLayout {
  bool compressed = false;
  TtShape shape;  ///< its cores, when compressed
  Index base[3] = {0, 0, 0};
};

/// How a position reads its embedding: the three core rows, a "full" row or a "cache" row
/// (rows[0]).
struct TtRoute {
  enum class Via : std::uint8_t { cores, full, cache };
  Via via = Via::cores;
  Index rows[3] = {0, 0, 0};
};

/// The route of id `id` of field `field`: through `tables` ([F], or [1] when `shared`, whose
/// keys are global: offsets[field] + id); a compressed table's id that is among the `cached`
/// ascending global keys reads its cache row (a binary search, as std::lower_bound).
EMBCOMP_HD TtRoute tt_route(const TtLayout* tables, bool shared, const Index* offsets,
                            const Index* cache_keys, Index cached, Index field, Index id) {
  const TtLayout& table = tables[shared ? 0 : field];
  const Index key = shared ? offsets[field] + id : id;
  TtRoute r;
  if (!table.compressed) {
    r.via = TtRoute::Via::full;
    r.rows[0] = table.base[0] + key;
    return r;
  }
  if (cached > 0) {
    const Index global = offsets[field] + id;
    Index low = 0, high = cached;
    while (low < high) {
      const Index middle = low + (high - low) / 2;
      if (cache_keys[middle] < global) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    if (low < cached && cache_keys[low] == global) {
      r.via = TtRoute::Via::cache;
      r.rows[0] = low;
      return r;
    }
  }
  tt_rows(table.shape, key, r.rows);
  for (int c = 0; c < 3; ++c) r.rows[c] += table.base[c];
  return r;
}

/// t[d0 d1 R] = g0 [d0 x R] @ g1 [R x d1 R]: the rank-r1 sum, as axpys over contiguous rows.
EMBCOMP_HD void tt_first_product(const TtShape& s, const float* g0, const float* g1, float* t) {
  const Index R = s.rank, wide = s.dims[1] * R;
  for (Index a = 0; a < s.dims[0]; ++a) {
    float* ta = t + a * wide;
    for (Index k = 0; k < wide; ++k) ta[k] = 0.0f;
    for (Index r1 = 0; r1 < R; ++r1) {
      const float w = g0[a * R + r1];
      const float* row = g1 + r1 * wide;
      for (Index k = 0; k < wide; ++k) ta[k] += w * row[k];
    }
  }
}

/// out[d] = t [d0 d1 x R] @ g2 [R x d2].
EMBCOMP_HD void tt_second_product(const TtShape& s, const float* t, const float* g2, float* out) {
  const Index R = s.rank, d2 = s.dims[2];
  for (Index ab = 0; ab < s.dims[0] * s.dims[1]; ++ab) {
    float* o = out + ab * d2;
    for (Index c = 0; c < d2; ++c) o[c] = 0.0f;
    for (Index r2 = 0; r2 < R; ++r2) {
      const float w = t[ab * R + r2];
      for (Index c = 0; c < d2; ++c) o[c] += w * g2[r2 * d2 + c];
    }
  }
}

/// out[d] = the embedding of the core rows g0, g1, g2; t[scratch()] is scratch.
EMBCOMP_HD void tt_contract(const TtShape& s, const float* g0, const float* g1, const float* g2,
                            float* t, float* out) {
  tt_first_product(s, g0, g1, t);
  tt_second_product(s, t, g2, out);
}

/// dt[d0 d1 x R] = g [d0 d1 x d2] @ g2^T: the gradient of T for the output gradient g[d].
EMBCOMP_HD void tt_grad_t(const TtShape& s, const float* g, const float* g2, float* dt) {
  const Index R = s.rank, d2 = s.dims[2];
  for (Index ab = 0; ab < s.dims[0] * s.dims[1]; ++ab) {
    for (Index r2 = 0; r2 < R; ++r2) {
      float sum = 0.0f;
      for (Index c = 0; c < d2; ++c) sum += g[ab * d2 + c] * g2[r2 * d2 + c];
      dt[ab * R + r2] = sum;
    }
  }
}

/// acc[R d2] += t^T [R x d0 d1] @ g [d0 d1 x d2]: dL/dG2 row for T = t and output gradient g.
EMBCOMP_HD void tt_add_grad_g2(const TtShape& s, const float* t, const float* g, float* acc) {
  const Index R = s.rank, d2 = s.dims[2];
  for (Index ab = 0; ab < s.dims[0] * s.dims[1]; ++ab) {
    for (Index r2 = 0; r2 < R; ++r2) {
      const float w = t[ab * R + r2];
      for (Index c = 0; c < d2; ++c) acc[r2 * d2 + c] += w * g[ab * d2 + c];
    }
  }
}

/// acc[R d1 R] += g0^T [R x d0] @ dt [d0 x d1 R]: dL/dG1 row.
EMBCOMP_HD void tt_add_grad_g1(const TtShape& s, const float* g0, const float* dt, float* acc) {
  const Index R = s.rank, wide = s.dims[1] * R;
  for (Index r1 = 0; r1 < R; ++r1) {
    float* row = acc + r1 * wide;
    for (Index a = 0; a < s.dims[0]; ++a) {
      const float w = g0[a * R + r1];
      const float* dta = dt + a * wide;
      for (Index k = 0; k < wide; ++k) row[k] += w * dta[k];
    }
  }
}

/// acc[d0 R] += dt [d0 x d1 R] @ g1^T [d1 R x R]: dL/dG0 row.
EMBCOMP_HD void tt_add_grad_g0(const TtShape& s, const float* g1, const float* dt, float* acc) {
  const Index R = s.rank, wide = s.dims[1] * R;
  for (Index a = 0; a < s.dims[0]; ++a) {
    const float* dta = dt + a * wide;
    for (Index r1 = 0; r1 < R; ++r1) {
      const float* row = g1 + r1 * wide;
      float sum = 0.0f;
      for (Index k = 0; k < wide; ++k) sum += dta[k] * row[k];
      acc[a * R + r1] += sum;
    }
  }
}

}  // namespace embcomp::kernels
