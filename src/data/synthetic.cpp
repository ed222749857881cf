#include "embcomp/data/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "embcomp/data/schemas.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/train/metrics.hpp"

namespace embcomp {

namespace {

// Stream tags: every random quantity has its own stream derived from the seed.
constexpr std::uint64_t kTagRow = 0x0001, kTagEffect = 0x0002, kTagLatent = 0x0003,
                        kTagDense = 0x0004, kTagPairs = 0x0005, kTagOrder = 0x0006;
// Counters inside one row's stream.
constexpr std::uint64_t kZipfAttempts = 64, kCounterDense = 1 << 12, kCounterLabel = 1 << 16;

/// Uniform in [0, 1) with 53 random bits.
double unit(std::uint64_t stream, std::uint64_t counter) {
  return static_cast<double>(kernels::mix64(stream ^ (counter * 0xD1B54A32D192ED03ULL)) >> 11) *
         0x1.0p-53;
}

/// Standard normal from counters 2c and 2c + 1 (Box-Muller).
double normal(std::uint64_t stream, std::uint64_t counter) {
  const double u1 = std::max(unit(stream, 2 * counter), 1e-300);
  const double u2 = unit(stream, 2 * counter + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

std::uint64_t stream_of(std::uint64_t seed, std::uint64_t tag, std::uint64_t index) {
  return kernels::combine(kernels::combine(seed, tag), index);
}

// Rejection-inversion Zipf sampling (Hoermann and Derflinger 1996), after Apache Commons RNG.
double helper_log1p_over_x(double x) {
  return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}
double helper_expm1_over_x(double x) {
  return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x));
}
double h_integral(double x, double s) {
  const double log_x = std::log(x);
  return helper_expm1_over_x((1.0 - s) * log_x) * log_x;
}
double h(double x, double s) { return std::exp(-s * std::log(x)); }
double h_integral_inverse(double x, double s) {
  const double t = std::max(x * (1.0 - s), -1.0);
  return std::exp(helper_log1p_over_x(t) * x);
}

/// A seeded pseudo-random permutation of [0, n): a 4-round balanced Feistel network on
/// 2 * half_bits bits (>= the bits of n - 1), applied again while the value is >= n (cycle
/// walking keeps it a permutation of [0, n); fewer than 4 rounds of walking on average).
std::uint64_t permute(std::uint64_t x, std::uint64_t n, std::uint64_t seed) {
  unsigned bits = 1;
  while (bits < 64 && (std::uint64_t{1} << bits) < n) ++bits;
  const unsigned half = (bits + 1) / 2;
  const std::uint64_t mask = (std::uint64_t{1} << half) - 1;
  do {
    std::uint64_t left = x >> half, right = x & mask;
    for (std::uint64_t round = 0; round < 4; ++round) {
      const std::uint64_t next = left ^ (kernels::combine(seed + round, right) & mask);
      left = right;
      right = next;
    }
    x = (left << half) | right;
  } while (x >= n);
  return x;
}

}  // namespace

std::vector<Index> scaled_cardinalities(const Schema& schema, double scale, Index min_cardinality) {
  std::vector<Index> result;
  for (Index n : schema.cardinalities) {
    const auto scaled = static_cast<Index>(std::llround(static_cast<double>(n) * scale));
    result.push_back(std::max(min_cardinality, scaled));
  }
  return result;
}

SyntheticCtr::SyntheticCtr(SyntheticConfig config) : config_(std::move(config)) {
  if (config_.cardinalities.empty()) {
    config_.cardinalities = scaled_cardinalities(criteo_kaggle_schema(), 0.001);
  }
  Schema{config_.cardinalities, 1}.validate();
  if (config_.zipf_exponent <= 0.0 || config_.num_dense < 0 || config_.latent_dim < 1 ||
      config_.interaction_pairs < 0 || config_.train_rows < 0 || config_.validation_rows < 0 ||
      config_.test_rows < 0 || config_.dense_missing < 0.0 || config_.dense_missing > 1.0 ||
      !(config_.drift >= 0.0 && config_.drift <= 1e6) ||
      config_.id_order == IdOrder::first_seen) {
    throw InvalidArgument("synthetic: exponent must be > 0, latent_dim >= 1, row counts, "
                          "num_dense and interaction_pairs >= 0, dense_missing in [0, 1], "
                          "drift in [0, 1e6], id order ranked or hashed (first_seen is for files)");
  }
  const double s = config_.zipf_exponent;
  for (Index n : config_.cardinalities) {
    Zipf z;
    z.exponent = s;
    z.n = n;
    z.h_x1 = h_integral(1.5, s) - 1.0;
    z.h_n = h_integral(static_cast<double>(n) + 0.5, s);
    z.s = 2.0 - h_integral_inverse(h_integral(2.5, s) - h(2.0, s), s);
    zipf_.push_back(z);
  }
  // Interaction pairs: a seeded choice without repetition among all field pairs.
  std::vector<std::pair<Index, Index>> all;
  const auto fields = static_cast<Index>(config_.cardinalities.size());
  for (Index a = 0; a < fields; ++a)
    for (Index b = a + 1; b < fields; ++b) all.emplace_back(a, b);
  const std::uint64_t pair_stream = stream_of(config_.seed, kTagPairs, 0);
  const auto wanted = std::min<std::size_t>(static_cast<std::size_t>(config_.interaction_pairs), all.size());
  for (std::size_t i = 0; i < wanted; ++i) {
    const std::size_t j = i + kernels::combine(pair_stream, i) % (all.size() - i);
    std::swap(all[i], all[j]);
    pairs_.push_back(all[i]);
  }
  const std::uint64_t dense_stream = stream_of(config_.seed, kTagDense, 0);
  for (Index j = 0; j < config_.num_dense; ++j) {
    const auto c = static_cast<std::uint64_t>(j);
    dense_mu_.push_back(4.0 * unit(dense_stream, 3 * c));
    dense_sigma_.push_back(0.5 + unit(dense_stream, 3 * c + 1));
    dense_coef_.push_back(normal(dense_stream, 1000 + c));
    // Approximate mean of the stored log(1 + x): log(1 + e^mu) for present values.
    dense_centre_.push_back((1.0 - config_.dense_missing) * std::log1p(std::exp(dense_mu_.back())));
  }
}

Index SyntheticCtr::rows(SplitPart part) const {
  switch (part) {
    case SplitPart::train: return config_.train_rows;
    case SplitPart::validation: return config_.validation_rows;
    case SplitPart::test: return config_.test_rows;
  }
  return 0;
}

Index SyntheticCtr::id_of_rank(Index field, Index rank, Index shift) const {
  const auto n = static_cast<std::uint64_t>(config_.cardinalities[static_cast<std::size_t>(field)]);
  const std::uint64_t slid = (static_cast<std::uint64_t>(rank) + static_cast<std::uint64_t>(shift)) % n;
  if (config_.id_order == IdOrder::ranked) return static_cast<Index>(slid);
  return static_cast<Index>(permute(slid, n, stream_of(config_.seed, kTagOrder, static_cast<std::uint64_t>(field))));
}

Index SyntheticCtr::rank_shift(Index field, SplitPart part, Index row) const {
  if (config_.drift == 0.0) return 0;
  const double t = part == SplitPart::train && config_.train_rows > 0
                       ? static_cast<double>(row) / static_cast<double>(config_.train_rows)
                       : 1.0;
  const auto n = static_cast<double>(config_.cardinalities[static_cast<std::size_t>(field)]);
  return static_cast<Index>(std::fmod(std::floor(config_.drift * n * t), n));
}

std::int64_t SyntheticCtr::zipf_rank(Index field, std::uint64_t stream) const {
  const Zipf& z = zipf_[static_cast<std::size_t>(field)];
  if (z.n == 1) return 1;
  const std::uint64_t first = static_cast<std::uint64_t>(field) * kZipfAttempts;
  std::int64_t k = 1;
  for (std::uint64_t attempt = 0; attempt < kZipfAttempts; ++attempt) {
    const double u = z.h_n + unit(stream, first + attempt) * (z.h_x1 - z.h_n);
    const double x = h_integral_inverse(u, z.exponent);
    k = std::clamp<std::int64_t>(static_cast<std::int64_t>(x + 0.5), 1, z.n);
    const auto kd = static_cast<double>(k);
    if (kd - x <= z.s || u >= h_integral(kd + 0.5, z.exponent) - h(kd, z.exponent)) return k;
  }
  return k;  // practically unreachable: the acceptance rate is high
}

double SyntheticCtr::effect(Index field, Index id) const {
  const std::uint64_t stream = stream_of(config_.seed, kTagEffect, static_cast<std::uint64_t>(field));
  return config_.effect_scale * normal(stream, static_cast<std::uint64_t>(id));
}

double SyntheticCtr::interaction(Index pair, const Index* ids) const {
  const auto [a, b] = pairs_[static_cast<std::size_t>(pair)];
  const auto k = static_cast<std::uint64_t>(config_.latent_dim);
  // Components ~ N(0, sigma^2) with sigma^2 = scale / sqrt(k): the dot then has std `scale`.
  const double sigma = std::sqrt(config_.interaction_scale / std::sqrt(static_cast<double>(k)));
  const std::uint64_t left = stream_of(config_.seed, kTagLatent, 2 * static_cast<std::uint64_t>(pair));
  const std::uint64_t right = stream_of(config_.seed, kTagLatent, 2 * static_cast<std::uint64_t>(pair) + 1);
  const auto id_a = static_cast<std::uint64_t>(ids[a]), id_b = static_cast<std::uint64_t>(ids[b]);
  double dot = 0.0;
  for (std::uint64_t c = 0; c < k; ++c) dot += normal(left, id_a * k + c) * normal(right, id_b * k + c);
  return sigma * sigma * dot;
}

double SyntheticCtr::logit(const Index* ids, const float* dense) const {
  double z = config_.bias;
  const auto fields = static_cast<Index>(config_.cardinalities.size());
  for (Index f = 0; f < fields; ++f) z += effect(f, ids[f]);
  for (Index p = 0; p < static_cast<Index>(pairs_.size()); ++p) z += interaction(p, ids);
  for (Index j = 0; j < config_.num_dense; ++j) {
    const auto jj = static_cast<std::size_t>(j);
    z += config_.dense_scale * dense_coef_[jj] * (dense[j] - dense_centre_[jj]);
  }
  return z;
}

void SyntheticCtr::generate_row(SplitPart part, Index row, float& label, float* dense, Index* ids,
                                float& probability) const {
  const std::uint64_t stream = stream_of(stream_of(config_.seed, kTagRow, static_cast<std::uint64_t>(part)),
                                         kTagRow, static_cast<std::uint64_t>(row));
  const auto fields = static_cast<Index>(config_.cardinalities.size());
  for (Index f = 0; f < fields; ++f) {
    ids[f] = id_of_rank(f, zipf_rank(f, stream) - 1, rank_shift(f, part, row));
  }
  for (Index j = 0; j < config_.num_dense; ++j) {
    const auto c = kCounterDense + 4 * static_cast<std::uint64_t>(j);
    const auto jj = static_cast<std::size_t>(j);
    if (unit(stream, c) < config_.dense_missing) {
      dense[j] = 0.0f;
      continue;
    }
    const double x = std::floor(std::exp(dense_mu_[jj] + dense_sigma_[jj] * normal(stream, c / 2 + 1)));
    dense[j] = x > 0.0 ? static_cast<float>(std::log1p(x)) : 0.0f;
  }
  const double p = 1.0 / (1.0 + std::exp(-logit(ids, dense)));
  probability = static_cast<float>(p);
  label = unit(stream, kCounterLabel) < p ? 1.0f : 0.0f;
}

void SyntheticCtr::read(SplitPart part, Index first, Index count, Batch& out,
                        std::vector<float>& probabilities) const {
  if (first < 0 || first > rows(part) || count < 0) {
    throw InvalidArgument("synthetic: sample " + std::to_string(first) + " is outside the part of " +
                          std::to_string(rows(part)) + " samples");
  }
  count = std::min(count, rows(part) - first);
  const auto fields = static_cast<Index>(config_.cardinalities.size());
  out.resize(count, config_.num_dense, fields);
  probabilities.resize(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(static)
  for (Index i = 0; i < count; ++i) {
    generate_row(part, first + i, out.labels[static_cast<std::size_t>(i)],
                 out.dense.data() + i * config_.num_dense, out.ids.data() + i * fields,
                 probabilities[static_cast<std::size_t>(i)]);
  }
}

void SyntheticCtr::read(SplitPart part, Index first, Index count, Batch& out) const {
  std::vector<float> ignored;
  read(part, first, count, out, ignored);
}

namespace {
/// AUC in expectation over independent labels y_i ~ Bernoulli(p_i): sum over pairs i != j of
/// p_i (1 - p_j) [s_i > s_j] (ties one half), divided by sum over i != j of p_i (1 - p_j).
double expected_auc(const std::vector<float>& scores) {
  std::vector<std::size_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double negatives_below = 0.0, numerator = 0.0, total_p = 0.0, total_q = 0.0, same = 0.0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    double group_p = 0.0, group_q = 0.0, group_pq = 0.0;
    for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j) {
      const double p = scores[order[j]];
      group_p += p, group_q += 1.0 - p, group_pq += p * (1.0 - p);
    }
    numerator += group_p * negatives_below + 0.5 * (group_p * group_q - group_pq);
    negatives_below += group_q;
    total_p += group_p, total_q += group_q, same += group_pq;
    i = j;
  }
  return numerator / (total_p * total_q - same);
}
}  // namespace

BayesMetrics SyntheticCtr::bayes_metrics(SplitPart part) const {
  constexpr Index kChunk = 65536;
  std::vector<float> all_p, all_labels, chunk_p;
  Batch batch;
  for (Index first = 0; first < rows(part); first += kChunk) {
    read(part, first, kChunk, batch, chunk_p);
    all_p.insert(all_p.end(), chunk_p.begin(), chunk_p.end());
    all_labels.insert(all_labels.end(), batch.labels.begin(), batch.labels.end());
  }
  BayesMetrics metrics;
  metrics.rows = static_cast<Index>(all_p.size());
  for (float y : all_labels) metrics.positives += y > 0.5f ? 1 : 0;
  metrics.auc = exact_auc(all_p, all_labels);
  metrics.logloss = logloss(all_p, all_labels);
  metrics.expected_auc = expected_auc(all_p);
  return metrics;
}

}  // namespace embcomp
