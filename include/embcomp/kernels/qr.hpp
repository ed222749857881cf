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

/// Where one field's ids go: Q_f and R_f (compressed) or a full table.
struct QrField {
  bool compressed = false;
  Index quotient_base = 0;   ///< first row of Q_f in the stacked quotient tables
  Index remainder_base = 0;  ///< first row of R_f in the stacked remainder tables
  Index full_base = 0;       ///< first row of the field's full table in the stacked full tables
};

EMBCOMP_HD Index qr_quotient_row(const QrField& f, Index id, Index c) {
  return f.quotient_base + qr_quotient(id, c);
}
EMBCOMP_HD Index qr_remainder_row(const QrField& f, Index id, Index c) {
  return f.remainder_base + qr_remainder(id, c);
}

/// Element k of the combination of q[wq] and r[wr] (out[d]).
template <QrOp Op>
EMBCOMP_HD float qr_combine_element(const float* q, const float* r, Index k, Index d) {
  if constexpr (Op == QrOp::mul) {
    return q[k] * r[k];
  } else if constexpr (Op == QrOp::add) {
    return q[k] + r[k];
  } else {
    const Index wq = qr_quotient_width(Op, d);
    return k < wq ? q[k] : r[k - wq];
  }
}

/// Element k (< wq) of dL/dq for the output gradient g[d]; r[wr] is the remainder row.
template <QrOp Op>
EMBCOMP_HD float qr_grad_quotient_element(const float* g, const float* r, Index k) {
  if constexpr (Op == QrOp::mul) return g[k] * r[k];
  else return g[k];
}

/// Element k (< wr) of dL/dr for the output gradient g[d]; q[wq] is the quotient row.
template <QrOp Op>
EMBCOMP_HD float qr_grad_remainder_element(const float* g, const float* q, Index k, Index d) {
  if constexpr (Op == QrOp::mul) return g[k] * q[k];
  else return g[k + d - qr_remainder_width(Op, d)];  // offset 0 for add, wq for concat
}

/// out[d] = combination of q[wq] and r[wr].
template <QrOp Op>
EMBCOMP_HD void qr_combine(const float* q, const float* r, Index d, float* out) {
  for (Index k = 0; k < d; ++k) out[k] = qr_combine_element<Op>(q, r, k, d);
}

/// acc[wq] += dL/dq for the output gradient g[d]; r[wr] is the remainder row of the same id.
template <QrOp Op>
EMBCOMP_HD void qr_grad_quotient(const float* g, const float* r, Index d, float* acc) {
  for (Index k = 0; k < qr_quotient_width(Op, d); ++k) acc[k] += qr_grad_quotient_element<Op>(g, r, k);
}

/// acc[wr] += dL/dr for the output gradient g[d]; q[wq] is the quotient row of the same id.
template <QrOp Op>
EMBCOMP_HD void qr_grad_remainder(const float* g, const float* q, Index d, float* acc) {
  for (Index k = 0; k < qr_remainder_width(Op, d); ++k) {
    acc[k] += qr_grad_remainder_element<Op>(g, q, k, d);
  }
}

}  // namespace embcomp::kernels
