// The library's optimizers, instantiated once here (their headers declare them extern), and
// compiled with -fno-math-errno (CMakeLists.txt). With errno semantics, each std::sqrt of an
// Adam or Adagrad update is a compare and a branch to sqrtf for a negative argument, and no
// compiler vectorizes that loop: the dense Adam update of DLRM's 474k parameters was 21.6% of a
// sweep cell's time (perf, `embcomp train --method hash --ratio 100 --threads 1`). The rules
// never take the root of a negative number and never read errno.
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "embcomp/optim/sgd.hpp"

namespace embcomp {

template class RowwiseOptimizer<SgdRule>;
template class RowwiseOptimizer<AdagradRule>;
template class RowwiseOptimizer<AdamRule>;
template class RowwiseOptimizer<RowwiseAdagradRule>;

}  // namespace embcomp
