// Synthetic CTR data with a known Bayes-optimal answer: the default data of every command.
//
// Row r of split part p is a pure function of (seed, p, r) through counter-based randomness,
// so any batch of any part can be generated on its own, in any order, on any thread.
//   ids:    field f draws a Zipf(exponent) rank k in [1, n_f] (rejection-inversion sampling);
//           the id is order_f((k - 1 + shift) mod n_f):
//             id_order=ranked (default): order_f is the identity, so without drift id 0 is the
//               most frequent (like a frequency-ordered vocabulary);
//             id_order=hashed: order_f is a seeded pseudo-random permutation of [0, n_f) (a
//               Feistel network with cycle walking), like raw hashed or first-seen ids;
//             drift D >= 0: shift = floor(D n_f t), where t = row / train_rows goes from 0 to 1
//               over the training stream (read in order) and is 1 for validation and test: the
//               popularity slides by D n_f ranks, so the ids hot at the end of training, and in
//               validation and test, are not those hot at its start (at D = 0.01 the top 1% of
//               a field's ranks is wholly replaced once).
//           Effects belong to ids, so an id keeps its effect when its popularity moves.
//   dense:  num_dense Criteo-like counts x = floor(exp(mu_j + sigma_j * z)), missing (0) with
//           probability dense_missing, stored as log(1 + x) like Criteo.
//   label:  Bernoulli(sigmoid(logit)) with
//           logit = bias + sum_f w_f[id_f]                              (w ~ N(0, effect_scale^2))
//                 + sum over interaction pairs (a, b) of <u_ab[id_a], v_ab[id_b]>
//                   (latent_dim-dim latents per id and pair; each dot has std interaction_scale)
//                 + dense_scale * sum_j c_j * (dense_j - centre_j)       (c ~ N(0, 1))
// The pairs are drawn from the seed among all field pairs. bayes_metrics() reports the AUC and
// logloss of the true probabilities on a part's sampled labels: what a perfect model scores.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "embcomp/core/schema.hpp"
#include "embcomp/data/id_order.hpp"
#include "embcomp/data/source.hpp"

namespace embcomp {

/// max(min_cardinality, round(n_f * scale)) for every field of `schema`.
std::vector<Index> scaled_cardinalities(const Schema& schema, double scale, Index min_cardinality = 2);

struct SyntheticConfig {
  std::vector<Index> cardinalities;  ///< empty: Criteo Kaggle's scaled by 0.001
  Index num_dense = 13;
  double zipf_exponent = 1.1;
  // The defaults give a Bayes AUC near 0.80 and a CTR near 0.26, like Criteo Kaggle.
  double bias = -1.4;
  double effect_scale = 0.2;
  Index interaction_pairs = 8;
  Index latent_dim = 4;
  double interaction_scale = 0.4;
  double dense_scale = 0.1;
  double dense_missing = 0.2;
  Index train_rows = 1'000'000;
  Index validation_rows = 100'000;
  Index test_rows = 100'000;
  std::uint64_t seed = 1;
  IdOrder id_order = IdOrder::ranked;  ///< ranked or hashed (see the top)
  double drift = 0.0;  ///< popularity slides by drift * n_f ranks over the training stream
};

struct BayesMetrics {
  double auc = 0.0;           ///< AUC of the true probabilities on the sampled labels
  double logloss = 0.0;       ///< logloss of the true probabilities on the sampled labels
  double expected_auc = 0.0;  ///< the same AUC in expectation over the labels
  Index rows = 0;
  Index positives = 0;
};

class SyntheticCtr : public BatchSource {
 public:
  explicit SyntheticCtr(SyntheticConfig config = {});

  std::vector<Index> cardinalities() const override { return config_.cardinalities; }
  Index num_dense() const override { return config_.num_dense; }
  Index rows(SplitPart part) const override;
  void read(SplitPart part, Index first, Index count, Batch& out) const override;
  /// As read(), also returning the true click probability of every sample.
  void read(SplitPart part, Index first, Index count, Batch& out, std::vector<float>& probabilities) const;

  /// Bayes AUC and logloss on all rows of `part` (generated in chunks).
  BayesMetrics bayes_metrics(SplitPart part = SplitPart::test) const;

  const SyntheticConfig& config() const { return config_; }
  /// The id of 0-based popularity rank `rank` of field f when the ranks have slid by `shift`.
  Index id_of_rank(Index field, Index rank, Index shift = 0) const;
  /// The rank shift of sample `row` of `part` (0 without drift).
  Index rank_shift(Index field, SplitPart part, Index row) const;
  const std::vector<std::pair<Index, Index>>& interaction_fields() const { return pairs_; }
  /// Zipf rank sample (1-based) of a field of n ids for uniform numbers from (stream, counter).
  std::int64_t zipf_rank(Index field, std::uint64_t stream) const;
  /// The planted logit of one sample (ids [F], dense [num_dense]).
  double logit(const Index* ids, const float* dense) const;

 private:
  struct Zipf {
    double exponent = 1.0, h_x1 = 0.0, h_n = 0.0, s = 0.0;
    std::int64_t n = 1;
  };
  void generate_row(SplitPart part, Index row, float& label, float* dense, Index* ids,
                    float& probability) const;
  double effect(Index field, Index id) const;
  double interaction(Index pair, const Index* ids) const;

  SyntheticConfig config_;
  std::vector<Zipf> zipf_;
  std::vector<std::pair<Index, Index>> pairs_;
  std::vector<double> dense_mu_, dense_sigma_, dense_coef_, dense_centre_;
};

}  // namespace embcomp
