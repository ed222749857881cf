// A planted click task for quick checks of a table on its own, without a model: field f's id i
// has an effect w_f[i] ~ N(0, 1) and a sample's label is Bernoulli(sigmoid(sum_f w_f[id_f])).
// A linear probe (train/probe.hpp), logit = sum of every entry of the sample's embeddings, can
// learn it, so a method that trains reaches an AUC well above 0.5. (The full synthetic CTR
// generator with interactions and a known Bayes AUC is data/synthetic.hpp.)
#pragma once

#include <cmath>
#include <vector>

#include "embcomp/kernels/random.hpp"
#include "embcomp/table.hpp"
#include "embcomp/train/metrics.hpp"

namespace embcomp {

class PlantedTask {
 public:
  PlantedTask(Schema schema, std::uint64_t seed) : schema_(std::move(schema)), seed_(seed) {}

  const Schema& schema() const { return schema_; }

  /// Fills ids [batch x F] (uniform per field) and labels [batch] for batch number `index`.
  void sample(Index batch, std::uint64_t index, std::vector<Index>& ids,
              std::vector<float>& labels) const {
    const Index fields = schema_.num_fields();
    const std::uint64_t stream = kernels::combine(seed_, index);
    ids.resize(static_cast<std::size_t>(batch * fields));
    labels.resize(static_cast<std::size_t>(batch));
    for (Index b = 0; b < batch; ++b) {
      float logit = 0.0f;
      for (Index f = 0; f < fields; ++f) {
        const auto counter = static_cast<std::uint64_t>(b * fields + f);
        const Index n = schema_.cardinalities[f];
        const Index id = std::min<Index>(
            static_cast<Index>(kernels::uniform01(stream, counter) * static_cast<float>(n)), n - 1);
        ids[b * fields + f] = id;
        logit += effect(f, id);
      }
      const float p = 1.0f / (1.0f + std::exp(-logit));
      labels[b] = kernels::uniform01(stream ^ 0x1abe1ULL, static_cast<std::uint64_t>(b)) < p;
    }
  }

  /// Batches k = 0 .. kHeldOutBatches-1 of the held-out set have index kHeldOutFirst + k; the
  /// training batches 0, 1, 2, ... never reach them.
  static constexpr std::uint64_t kHeldOutFirst = std::uint64_t{1} << 40;
  static constexpr std::uint64_t kHeldOutBatches = 8;

  /// AUC of the planted logits themselves on the held-out set: the best any model can do.
  double oracle_auc(Index batch) const {
    std::vector<Index> ids;
    std::vector<float> labels, scores, truth;
    const Index fields = schema_.num_fields();
    for (std::uint64_t k = 0; k < kHeldOutBatches; ++k) {
      sample(batch, kHeldOutFirst + k, ids, labels);
      for (Index b = 0; b < batch; ++b) {
        float logit = 0.0f;
        for (Index f = 0; f < fields; ++f) logit += effect(f, ids[b * fields + f]);
        scores.push_back(logit);
      }
      truth.insert(truth.end(), labels.begin(), labels.end());
    }
    return exact_auc(scores, truth);
  }

  /// The planted effect of id `id` in field f: N(0, 1).
  float effect(Index f, Index id) const {
    const std::uint64_t stream = kernels::combine(seed_ ^ 0xeffec7ULL, static_cast<std::uint64_t>(f));
    return kernels::standard_normal(stream, static_cast<std::uint64_t>(id));
  }

 private:
  Schema schema_;
  std::uint64_t seed_;
};

}  // namespace embcomp
