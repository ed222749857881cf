// Quotient-remainder index math and the three ways of combining a quotient row q with a
// remainder row r (spec methods-inter.md §2). With c collisions, id x reads Q[x div c] and
// R[x mod c]; no two ids of a field share both rows.
//
//   op      q width      r width      out[d]              dL/dq          dL/dr
//   mul     d            d            q ⊙ r               g ⊙ r          g ⊙ q
//   add     d            d            q + r               g              g
//   concat  ceil(d/2)    floor(d/2)   [q; r]              g[0, wq)       g[wq, d)
#pragma once

#include <cstdint>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

enum class QrOp : std::uint8_t { mul = 0, add = 1, concat = 2 };

/// Rows of the quotient table of a field with n ids: ceil(n / c).
EMBCOMP_HD Index qr_quotient_rows(Index n, Index c) { return (n + c - 1) / c; }
EMBCOMP_HD Index qr_quotient(Index id, Index c) { return id / c; }
EMBCOMP_HD Index qr_remainder(Index id, Index c) { return id % c; }

/// Width of a quotient row (wq) and of a remainder row (wr) for output width d.
EMBCOMP_HD Index qr_quotient_width(QrOp op, Index d) { return op == QrOp::concat ? (d + 1) / 2 : d; }
EMBCOMP_HD Index qr_remainder_width(QrOp op, Index d) { return op == QrOp::concat ? d / 2 : d; }

/// out[d] = combination of q[wq] and r[wr].
template <QrOp Op>
EMBCOMP_HD void qr_combine(const float* q, const float* r, Index d, float* out) {
  if constexpr (Op == QrOp::mul) {
    for (Index k = 0; k < d; ++k) out[k] = q[k] * r[k];
  } else if constexpr (Op == QrOp::add) {
    for (Index k = 0; k < d; ++k) out[k] = q[k] + r[k];
  } else {
    const Index wq = qr_quotient_width(Op, d);
    for (Index k = 0; k < wq; ++k) out[k] = q[k];
    for (Index k = wq; k < d; ++k) out[k] = r[k - wq];
  }
}

/// acc[wq] += dL/dq for the output gradient g[d]; r[wr] is the remainder row of the same id.
template <QrOp Op>
EMBCOMP_HD void qr_grad_quotient(const float* g, const float* r, Index d, float* acc) {
  if constexpr (Op == QrOp::mul) {
    for (Index k = 0; k < d; ++k) acc[k] += g[k] * r[k];
  } else {
    for (Index k = 0; k < qr_quotient_width(Op, d); ++k) acc[k] += g[k];
  }
}

/// acc[wr] += dL/dr for the output gradient g[d]; q[wq] is the quotient row of the same id.
template <QrOp Op>
EMBCOMP_HD void qr_grad_remainder(const float* g, const float* q, Index d, float* acc) {
  if constexpr (Op == QrOp::mul) {
    for (Index k = 0; k < d; ++k) acc[k] += g[k] * q[k];
  } else {
    const Index offset = d - qr_remainder_width(Op, d);  // 0 for add, wq for concat
    for (Index k = offset; k < d; ++k) acc[k - offset] += g[k];
  }
}

}  // namespace embcomp::kernels
