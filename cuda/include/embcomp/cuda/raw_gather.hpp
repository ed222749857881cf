// The device's random-row gather, the ceiling a lookup is measured against: out[p] = table[rows[p]]
// with the rows given (no index math, no checks).
#pragma once

#include "embcomp/core/types.hpp"

namespace embcomp::cuda {

/// out[count x width] = table rows rows[0..count) (all device pointers; rows in range).
void raw_gather(const float* table, Index width, const Index* rows, Index count, float* out);

}  // namespace embcomp::cuda
