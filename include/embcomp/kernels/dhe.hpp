// DHE's dense hash encoding (spec methods-inter.md §4; Kang et al., KDD'21): id x becomes k
// real numbers, one per universal hash h_i(x) = ((a_i x + b_i) mod p_i) mod m with a_i, b_i in
// [1, m) and p_i a prime >= m, in int64 arithmetic (a_i x < 2^51 for x < 2^31: no overflow;
// the reference's GPU kernel wraps at 2^31, the spec's pitfall). With u_i = h_i / (m - 1):
//   uniform  v_i = 2 u_i - 1
//   normal   Box-Muller on pairs: v_2j = sqrt(-2 ln max(u_2j, 1e-12)) cos(2 pi u_2j+1),
//            v_2j+1 = the same with sin (k even)
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"
#include "embcomp/kernels/random.hpp"

namespace embcomp::kernels {

enum class DheEncoding : std::uint8_t { uniform = 0, normal = 1 };

/// One universal hash: ((a x + b) mod p) mod m.
struct UniversalHash {
  std::int64_t a = 1;
  std::int64_t b = 1;
  std::int64_t p = 2;
};

/// The smallest prime >= n (trial division; n < 2^31 needs divisors up to 46,341).
inline std::int64_t next_prime(std::int64_t n) {
  const auto prime = [](std::int64_t v) {
    if (v < 2) return false;
    for (std::int64_t q = 2; q * q <= v; ++q) {
      if (v % q == 0) return false;
    }
    return true;
  };
  while (!prime(n)) ++n;
  return n;
}

/// k hashes drawn from `seed`: a, b uniform in [1, m); p the first prime at or after a draw
/// uniform in [m, 2m) (the reference draws p from a stored list of primes >= m).
inline std::vector<UniversalHash> make_universal_hashes(std::uint64_t seed, Index k, std::int64_t m) {
  std::vector<UniversalHash> hashes(static_cast<std::size_t>(k));
  const auto draw = [&](Index i, std::uint64_t what, std::int64_t lo, std::int64_t hi) {
    const std::uint64_t bits = mix64(combine(combine(seed, static_cast<std::uint64_t>(i)), what));
    return lo + static_cast<std::int64_t>(bits % static_cast<std::uint64_t>(hi - lo));
  };
  for (Index i = 0; i < k; ++i) {
    hashes[static_cast<std::size_t>(i)] = {draw(i, 0, 1, m), draw(i, 1, 1, m),
                                           next_prime(draw(i, 2, m, 2 * m))};
  }
  return hashes;
}

/// u = h(x) / (m - 1) in [0, 1].
EMBCOMP_HD float dhe_unit(const UniversalHash& h, std::int64_t m, std::int64_t x) {
  const std::int64_t bucket = ((h.a * x + h.b) % h.p) % m;
  return static_cast<float>(static_cast<double>(bucket) / static_cast<double>(m - 1));
}

/// v mod p, exactly, for integers 0 <= v < 2^52 and 1 <= p < 2^31 held in doubles
/// (inv_p = 1 / p): the quotient rounded to nearest from v * inv_p (within one of the true
/// one: its relative error is ~2^-52 and it is < 2^51), its product with p exact (< 2^53),
/// then one correction either way. Branch-free double arithmetic, so loops over hashes
/// vectorise, where an int64 division costs tens of cycles.
EMBCOMP_HD double exact_mod(double v, double p, double inv_p) {
  constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const double q = (v * inv_p + kRound) - kRound;
  double r = v - q * p;
  r += r < 0.0 ? p : 0.0;
  r -= r >= p ? p : 0.0;
  return r;
}

/// The hashes of a DHE encoder as doubles (structure of arrays), for dhe_encode_fast: valid
/// when every a x + b stays below 2^52 (fits_fast), i.e. m * (largest id + 1) < 2^52.
struct FastUniversalHashes {
  std::vector<double> a, b, p, inv_p;
  double m = 2, inv_m = 0.5;

  FastUniversalHashes() = default;
  FastUniversalHashes(const std::vector<UniversalHash>& hashes, std::int64_t buckets) {
    for (const UniversalHash& h : hashes) {
      a.push_back(static_cast<double>(h.a));
      b.push_back(static_cast<double>(h.b));
      p.push_back(static_cast<double>(h.p));
      inv_p.push_back(1.0 / static_cast<double>(h.p));
    }
    m = static_cast<double>(buckets);
    inv_m = 1.0 / m;
  }
  /// Whether ids below `ids` keep every a x + b below 2^52 (a, b < m).
  static bool fits_fast(std::int64_t buckets, std::int64_t ids) {
    return static_cast<double>(buckets) * static_cast<double>(ids + 1) < 4503599627370496.0;
  }
};

/// out[k] = the uniform encoding 2 h_i(x) / (m - 1) - 1 of id x, through exact_mod; the same
/// values as dhe_encode when FastUniversalHashes::fits_fast holds for x.
inline void dhe_encode_uniform_fast(const FastUniversalHashes& h, std::int64_t x, float* out) {
  const auto k = static_cast<Index>(h.a.size());
  const double xd = static_cast<double>(x), scale = 2.0 / (h.m - 1.0);
  const double *a = h.a.data(), *b = h.b.data(), *p = h.p.data(), *inv_p = h.inv_p.data();
#if defined(_OPENMP)  // the CUDA backend's nvcc build includes this header without OpenMP
#pragma omp simd
#endif
  for (Index i = 0; i < k; ++i) {
    const double bucket = exact_mod(exact_mod(a[i] * xd + b[i], p[i], inv_p[i]), h.m, h.inv_m);
    out[i] = static_cast<float>(bucket * scale - 1.0);
  }
}

/// out[k] = the encoding of id x under hashes[k].
EMBCOMP_HD void dhe_encode(const UniversalHash* hashes, Index k, std::int64_t m, DheEncoding encoding,
                           std::int64_t x, float* out) {
  if (encoding == DheEncoding::uniform) {
    const double scale = 2.0 / static_cast<double>(m - 1);
    for (Index i = 0; i < k; ++i) {
      const std::int64_t bucket = ((hashes[i].a * x + hashes[i].b) % hashes[i].p) % m;
      out[i] = static_cast<float>(static_cast<double>(bucket) * scale - 1.0);
    }
    return;
  }
  for (Index i = 0; i + 1 < k; i += 2) {
    const float radius = std::sqrt(-2.0f * std::log(std::fmax(dhe_unit(hashes[i], m, x), 1e-12f)));
    const float angle = 6.2831853f * dhe_unit(hashes[i + 1], m, x);
    out[i] = radius * std::cos(angle);
    out[i + 1] = radius * std::sin(angle);
  }
}

}  // namespace embcomp::kernels
