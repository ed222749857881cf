// Helpers shared by the cafe and cafe-ml tests.
#pragma once

#include <cstdint>
#include <vector>

#include "embcomp/methods/cafe.hpp"
#include "support.hpp"

namespace embcomp::test {

/// Two compressed fields (full_below=auto keeps none of them at ratio 10: 2000 / 10 = 200).
inline Schema two_fields() { return Schema{{3000, 1000}, 8}; }

inline CafeTable& as_cafe(EmbeddingTable& t) { return dynamic_cast<CafeTable&>(t); }

/// One training step as the trainer runs it: lookup, backward, optimizer step, after_step.
inline void train_step(EmbeddingTable& table, const std::vector<Index>& ids,
                       const std::vector<float>& dE, Optimizer& optimizer,
                       std::uint64_t step = 1) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.lookup(batch, {out.data(), batch.size(), table.dim()});
  Gradients grads;
  table.backward(batch, {dE.data(), batch.size(), table.dim()}, grads);
  optimizer.step(grads);
  table.after_step(StepContext{step, 0, 0.0, &optimizer});
}

}  // namespace embcomp::test
