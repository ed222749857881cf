// Schemas of public data sets, for sizing, benchmarks and synthetic data of realistic shape.
#pragma once

#include <vector>

#include "embcomp/core/schema.hpp"

namespace embcomp {

/// Criteo Kaggle (DAC 2014): the 26 categorical fields' cardinalities with every raw value
/// kept (no min-count), as in the reference study: 33,762,577 ids in all.
inline Schema criteo_kaggle_schema(Index dim = 16) {
  return Schema{{1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
                 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572},
                dim};
}

}  // namespace embcomp
