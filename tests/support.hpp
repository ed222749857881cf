// Test helpers: small schemas, seeded id batches, and a plain training loop used to check that
// a method learns.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "embcomp/embcomp.hpp"
#include "embcomp/train/metrics.hpp"

namespace embcomp::test {

/// Five fields of mixed sizes (one of size 1), dim 8: small enough for finite differences.
inline Schema small_schema(Index dim = 8) { return Schema{{1000, 37, 5, 250, 1}, dim}; }

/// [batch x F] ids, uniform per field, from `seed`.
inline std::vector<Index> random_ids(const Schema& schema, Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<Index> ids(static_cast<std::size_t>(batch * schema.num_fields()));
  for (Index b = 0; b < batch; ++b) {
    for (Index f = 0; f < schema.num_fields(); ++f) {
      std::uniform_int_distribution<Index> pick(0, schema.cardinalities[f] - 1);
      ids[b * schema.num_fields() + f] = pick(rng);
    }
  }
  return ids;
}

inline IdBatch batch_of(const std::vector<Index>& ids, const Schema& schema) {
  return {ids.data(), static_cast<Index>(ids.size()) / schema.num_fields(), schema.num_fields()};
}

/// Lookup into a fresh [B*F x d] buffer.
inline std::vector<float> lookup(const EmbeddingTable& table, const std::vector<Index>& ids) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.lookup(batch, {out.data(), batch.size(), table.dim()});
  return out;
}

/// Uniform(-1, 1) values, e.g. a dE or loss weights.
inline std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

/// A planted CTR task: each (field, id) has an effect; label ~ Bernoulli(sigmoid(sum effects)).
/// Training fits logit = sum over fields and dims of the embedding entries (a linear model on
/// the table), with Adam, and returns the AUC on held-out samples.
inline double train_planted_task_auc(EmbeddingTable& table, int steps = 300, Index batch = 256) {
  const Schema& schema = table.schema();
  std::mt19937_64 rng(7);
  std::vector<std::vector<float>> effect(schema.cardinalities.size());
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t f = 0; f < effect.size(); ++f) {
    effect[f].resize(static_cast<std::size_t>(schema.cardinalities[f]));
    for (auto& e : effect[f]) e = normal(rng);
  }
  auto sample = [&](unsigned seed, std::vector<Index>& ids, std::vector<float>& labels) {
    ids = random_ids(schema, batch, seed);
    labels.resize(static_cast<std::size_t>(batch));
    std::mt19937 coin(seed ^ 0xabcdu);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (Index b = 0; b < batch; ++b) {
      float logit = 0.0f;
      for (Index f = 0; f < schema.num_fields(); ++f) logit += effect[f][ids[b * schema.num_fields() + f]];
      labels[b] = u(coin) < 1.0f / (1.0f + std::exp(-logit)) ? 1.0f : 0.0f;
    }
  };
  auto logits = [&](const std::vector<float>& emb) {
    std::vector<float> out(static_cast<std::size_t>(batch), 0.0f);
    const Index per_sample = schema.num_fields() * schema.dim;
    for (Index b = 0; b < batch; ++b) {
      for (Index i = 0; i < per_sample; ++i) out[b] += emb[b * per_sample + i];
    }
    return out;
  };
  Adam adam(0.05f);
  Gradients grads;
  std::vector<Index> ids;
  std::vector<float> labels;
  for (int step = 0; step < steps; ++step) {
    sample(static_cast<unsigned>(step), ids, labels);
    const auto emb = lookup(table, ids);
    const auto z = logits(emb);
    std::vector<float> dE(emb.size());
    const Index per_sample = schema.num_fields() * schema.dim;
    for (Index b = 0; b < batch; ++b) {
      const float g = (1.0f / (1.0f + std::exp(-z[b])) - labels[b]) / static_cast<float>(batch);
      for (Index i = 0; i < per_sample; ++i) dE[b * per_sample + i] = g;
    }
    table.backward(batch_of(ids, schema), {dE.data(), batch * schema.num_fields(), schema.dim}, grads);
    adam.step(grads);
  }
  std::vector<float> scores, truth;
  for (unsigned s = 0; s < 8; ++s) {
    sample(100000 + s, ids, labels);
    const auto z = logits(lookup(table, ids));
    scores.insert(scores.end(), z.begin(), z.end());
    truth.insert(truth.end(), labels.begin(), labels.end());
  }
  return exact_auc(scores, truth);
}

}  // namespace embcomp::test
