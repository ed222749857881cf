// A BatchSource that forwards to another one, for tests that watch or alter what is read: a
// subclass overrides read() and calls inner().read().
#pragma once

#include <vector>

#include "embcomp/data/source.hpp"

namespace embcomp::test {

class ForwardingSource : public BatchSource {
 public:
  explicit ForwardingSource(const BatchSource& inner) : inner_(inner) {}
  std::vector<Index> cardinalities() const override { return inner_.cardinalities(); }
  Index num_dense() const override { return inner_.num_dense(); }
  Index rows(SplitPart part) const override { return inner_.rows(part); }
  void read(SplitPart part, Index first, Index count, Batch& out) const override {
    inner_.read(part, first, count, out);
  }

 protected:
  const BatchSource& inner() const { return inner_; }

 private:
  const BatchSource& inner_;
};

}  // namespace embcomp::test
