// The TT contraction kernels against a plain einsum twin, and the sizing factors against the
// spec's values.
#include <catch2/catch.hpp>

#include <array>
#include <set>
#include <vector>

#include "embcomp/kernels/tt.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// e[(a d1 + b) d2 + c] = sum_{r1, r2} G0[a, r1] G1[r1, b, r2] G2[r2, c], in double.
std::vector<double> einsum(const kernels::TtShape& s, const std::vector<float>& g0,
                           const std::vector<float>& g1, const std::vector<float>& g2) {
  const Index R = s.rank, d0 = s.dims[0], d1 = s.dims[1], d2 = s.dims[2];
  std::vector<double> e(static_cast<std::size_t>(s.dim()), 0.0);
  for (Index a = 0; a < d0; ++a)
    for (Index b = 0; b < d1; ++b)
      for (Index c = 0; c < d2; ++c)
        for (Index r1 = 0; r1 < R; ++r1)
          for (Index r2 = 0; r2 < R; ++r2)
            e[(a * d1 + b) * d2 + c] += double{g0[a * R + r1]} * g1[(r1 * d1 + b) * R + r2] * g2[r2 * d2 + c];
  return e;
}

/// sum_k w[k] e[k] for the einsum of the cores: the loss whose gradients the kernels compute.
double weighted(const kernels::TtShape& s, const std::vector<float>& g0, const std::vector<float>& g1,
                const std::vector<float>& g2, const std::vector<float>& w) {
  const auto e = einsum(s, g0, g1, g2);
  double sum = 0;
  for (std::size_t k = 0; k < e.size(); ++k) sum += e[k] * w[k];
  return sum;
}

}  // namespace

TEST_CASE("tt kernels: dim and row factors are the reference's", "[kernels][tt]") {
  using F = std::array<Index, 3>;
  CHECK(kernels::tt_dim_factors(8) == F{2, 2, 2});
  CHECK(kernels::tt_dim_factors(16) == F{2, 2, 4});
  CHECK(kernels::tt_dim_factors(32) == F{2, 4, 4});
  CHECK(kernels::tt_dim_factors(64) == F{4, 4, 4});
  CHECK(kernels::tt_dim_factors(128) == F{4, 4, 8});
  // Not a power of two >= 8: the largest divisor <= ceil(cbrt), then <= ceil(sqrt), sorted.
  CHECK(kernels::tt_dim_factors(12) == F{2, 2, 3});
  CHECK(kernels::tt_dim_factors(7) == F{1, 1, 7});
  CHECK(kernels::tt_dim_factors(4) == F{1, 2, 2});
  CHECK(kernels::tt_dim_factors(1) == F{1, 1, 1});
  for (Index d = 1; d <= 200; ++d) {
    const F f = kernels::tt_dim_factors(d);
    CHECK(f[0] * f[1] * f[2] == d);
  }
  CHECK(kernels::tt_row_factors(33'762'577) == F{323, 323, 324});  // the spec's Criteo value
  for (Index n : {Index{1}, Index{2}, Index{7}, Index{1000}, Index{1001}, Index{10'131'227}}) {
    const F f = kernels::tt_row_factors(n);
    CHECK(f[0] * f[1] * f[2] >= n);  // every id has its digits
    CHECK(f[2] == ceil_root(n, 3));
  }
}

TEST_CASE("tt kernels: mixed-radix rows cover every id exactly once", "[kernels][tt]") {
  const kernels::TtShape s{kernels::tt_row_factors(1000), {2, 2, 2}, 3};
  std::set<std::array<Index, 3>> seen;
  for (Index x = 0; x < 1000; ++x) {
    std::array<Index, 3> i{};
    kernels::tt_rows(s, x, i.data());
    for (int c = 0; c < 3; ++c) CHECK((i[c] >= 0 && i[c] < s.rows[c]));
    CHECK(x == i[0] + s.rows[0] * (i[1] + s.rows[1] * i[2]));
    seen.insert(i);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("tt kernels: the contraction and its gradients against an einsum twin", "[kernels][tt]") {
  for (const kernels::TtShape s : {kernels::TtShape{{1, 1, 1}, {2, 2, 4}, 5}, kernels::TtShape{{1, 1, 1}, {1, 3, 2}, 1},
                                   kernels::TtShape{{1, 1, 1}, {2, 4, 4}, 7}}) {
    INFO("dims " << s.dims[0] << "x" << s.dims[1] << "x" << s.dims[2] << " rank " << s.rank);
    auto g0 = random_values(static_cast<std::size_t>(s.width(0)), 1);
    auto g1 = random_values(static_cast<std::size_t>(s.width(1)), 2);
    auto g2 = random_values(static_cast<std::size_t>(s.width(2)), 3);
    std::vector<float> t(static_cast<std::size_t>(s.scratch())), e(static_cast<std::size_t>(s.dim()));
    kernels::tt_contract(s, g0.data(), g1.data(), g2.data(), t.data(), e.data());
    const auto expected = einsum(s, g0, g1, g2);
    for (std::size_t k = 0; k < e.size(); ++k) CHECK(e[k] == Approx(expected[k]).epsilon(1e-5).margin(1e-6));

    // Gradients of sum(w . e) by central differences (the loss is linear in each core, so the
    // difference quotient is exact up to rounding).
    const auto w = random_values(e.size(), 4);
    std::vector<float> dt(t.size());
    kernels::tt_grad_t(s, w.data(), g2.data(), dt.data());
    std::vector<float> d0(g0.size(), 0.0f), d1(g1.size(), 0.0f), d2(g2.size(), 0.0f);
    kernels::tt_add_grad_g0(s, g1.data(), dt.data(), d0.data());
    kernels::tt_add_grad_g1(s, g0.data(), dt.data(), d1.data());
    kernels::tt_add_grad_g2(s, t.data(), w.data(), d2.data());
    const auto check = [&](std::vector<float>& core, const std::vector<float>& grad) {
      for (std::size_t i = 0; i < core.size(); ++i) {
        const float saved = core[i];
        core[i] = saved + 0.5f;
        const double up = weighted(s, g0, g1, g2, w);
        core[i] = saved - 0.5f;
        const double down = weighted(s, g0, g1, g2, w);
        core[i] = saved;
        CHECK(grad[i] == Approx(up - down).epsilon(1e-4).margin(1e-5));
      }
    };
    check(g0, d0);
    check(g1, d1);
    check(g2, d2);
  }
}
