// This thread's share of a parallel region, written once for the loops that split work into
// contiguous ranges themselves (a plain build without OpenMP is one thread).
#pragma once

#include "embcomp/core/types.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace embcomp::kernels {

struct ThreadShare {
  Index thread = 0;
  Index threads = 1;

  /// Inside a parallel region: which thread this is, of how many.
  static ThreadShare current() {
#ifdef _OPENMP
    return {omp_get_thread_num(), omp_get_num_threads()};
#else
    return {};
#endif
  }
  /// This thread's part [begin_of, end_of) when [0, total) is cut into equal contiguous parts.
  Index begin_of(Index total) const { return total * thread / threads; }
  Index end_of(Index total) const { return total * (thread + 1) / threads; }
  bool last() const { return thread + 1 == threads; }
};

}  // namespace embcomp::kernels
