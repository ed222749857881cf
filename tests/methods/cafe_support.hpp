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

/// One training step as the trainer runs it: forward, backward, optimizer step, after_step.
inline void train_step(EmbeddingTable& table, const std::vector<Index>& ids,
                       const std::vector<float>& dE, Optimizer& optimizer,
                       std::uint64_t step = 1) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.forward(batch, {out.data(), batch.size(), table.dim()});
  Gradients grads;
  table.backward(batch, {dE.data(), batch.size(), table.dim()}, grads);
  optimizer.step(grads);
  table.after_step(StepContext{step, 0, 0.0, &optimizer});
}

/// Ids of a [batch x 2] batch: field 0 distinct-ish ids; in field 1, id 7 at the first `hits`
/// positions, then `once` (when >= 0) at the next one, distinct ids from 100 on elsewhere.
inline std::vector<Index> batch_with(Index hits, Index batch, Index salt, Index once = -1) {
  std::vector<Index> ids;
  for (Index b = 0; b < batch; ++b) {
    ids.push_back((b * 37 + salt * 101) % 3000);
    ids.push_back(b < hits ? 7 : b == hits && once >= 0 ? once : 100 + (b + salt * 13) % 800);
  }
  return ids;
}

}  // namespace embcomp::test
