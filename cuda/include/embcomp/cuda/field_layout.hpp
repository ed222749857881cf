// Rows of per-field widths in one flat device buffer (mde's E_f, optembed's kept rows R_f):
// field f's rows are [rows_f x d_f] floats from its value offset, and its stacked rows (the sort
// keys of a training step) start at its row base.
#pragma once

#include "embcomp/core/types.hpp"

namespace embcomp::cuda {

/// Where field f sits in a flat buffer of rows of per-field widths.
struct FieldLayout {
  Index dim = 0;                 ///< d_f, in [1, D]
  Index row_base = 0;            ///< its first stacked row: the sum of the rows of fields g < f
  Index value_offset = 0;        ///< its first float: the sum of rows_g d_g over g < f
  Index projection_offset = -1;  ///< mde: its first float of P_f in the projections; -1: none
  Index bias_offset = -1;        ///< its first float of b_f [1 x D] in the biases; -1: none
};

}  // namespace embcomp::cuda
