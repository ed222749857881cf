// The dense GEMM's kernels (include/embcomp/kernels/gemm.hpp has the layouts and the design):
// the AVX2 + FMA panel kernel chosen at run time, and Eigen's product as the fallback.
#include "embcomp/kernels/gemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <Eigen/Core>

#include "embcomp/kernels/parallel.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EMBCOMP_GEMM_X86 1
#else
#define EMBCOMP_GEMM_X86 0
#endif

namespace embcomp::kernels {

namespace gemm_detail {
namespace {

constexpr Index kPanel = 16;    // columns of a packed B panel (two ymm registers)
constexpr Index kTileRows = 6;  // rows of a C tile (6 x 2 accumulators)

#if EMBCOMP_GEMM_X86
/// out[p * kPanel + jj] = rows[jj][p] for jj < kPanel and p below the largest multiple of 8
/// <= k, by 8 x 8 register transposes; returns that p. AVX2 only (the caller checked).
__attribute__((target("avx2,fma"))) Index pack_transposed_blocks(const float* const* rows, Index k,
                                                                 float* out) {
  const Index blocked = k / 8 * 8;
  for (Index p = 0; p < blocked; p += 8) {
    for (Index half = 0; half < kPanel; half += 8) {
      __m256 r[8];
      for (int q = 0; q < 8; ++q) r[q] = _mm256_loadu_ps(rows[half + q] + p);
      // Rows q of r become columns: unpack pairs, then quads, then swap 128-bit lanes.
      __m256 t[8];
      for (int q = 0; q < 8; q += 2) {
        t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
      }
      __m256 u[8];
      for (int q = 0; q < 8; q += 4) {
        u[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
        u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xEE);
        u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
        u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xEE);
      }
      for (int q = 0; q < 4; ++q) {
        _mm256_storeu_ps(out + (p + q) * kPanel + half,
                         _mm256_permute2f128_ps(u[q], u[q + 4], 0x20));
        _mm256_storeu_ps(out + (p + q + 4) * kPanel + half,
                         _mm256_permute2f128_ps(u[q], u[q + 4], 0x31));
      }
    }
  }
  return blocked;
}
#else
Index pack_transposed_blocks(const float* const*, Index, float*) {
  return 0;
}
#endif

/// out [k x kPanel] = op(B)(0..k, j0..j0+width), zero beyond `width` columns.
void pack_panel(GemmOperand b, Index k, Index j0, Index width, float* out) {
  if (!b.transposed && width == kPanel) {
    for (Index p = 0; p < k; ++p)
      std::memcpy(out + p * kPanel, b.data + p * b.ld + j0, sizeof(float) * kPanel);
    return;
  }
  if (b.transposed) {  // column j of op(B) is row j of the stored matrix: walk `width` rows
    const float* rows[kPanel];
    for (Index jj = 0; jj < kPanel; ++jj) rows[jj] = b.data + (j0 + std::min(jj, width - 1)) * b.ld;
    Index p = 0;
    if (width == kPanel) p = pack_transposed_blocks(rows, k, out);
    for (; p < k; ++p) {
      for (Index jj = 0; jj < kPanel; ++jj) out[p * kPanel + jj] = jj < width ? rows[jj][p] : 0.0f;
    }
    return;
  }
  std::fill_n(out, k * kPanel, 0.0f);
  for (Index p = 0; p < k; ++p)
    std::memcpy(out + p * kPanel, b.data + p * b.ld + j0, sizeof(float) * width);
}

/// C rows [i0, i0 + rows) x panel columns [j0, j0 + width) (+)= op(A) rows * panel.
struct TileArgs {
  GemmOperand a;
  const float* panel;  // [k x kPanel]
  Index k;
  float* c;  // C(i0, j0)
  Index ldc;
  Index width;
  bool accumulate;
};

#if EMBCOMP_GEMM_X86
/// Adds or stores one accumulated row (16 values, `width` of them valid) into C.
__attribute__((target("avx2,fma"))) void store_row(__m256 lo, __m256 hi, float* c, Index width,
                                                   bool accumulate) {
  if (width == kPanel) {
    if (accumulate) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(c));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(c + 8));
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
    return;
  }
  alignas(32) float row[kPanel];
  _mm256_store_ps(row, lo);
  _mm256_store_ps(row + 8, hi);
  for (Index j = 0; j < width; ++j) c[j] = accumulate ? c[j] + row[j] : row[j];
}

/// A kRows x 16 tile: acc(r) += op(A)(r, p) * panel(p) over p in [0, k); op(A)(r, p) is read
/// from a.data + r * step_r + p * step_p (a transposed A walks its rows).
template <int kRows>
__attribute__((target("avx2,fma"))) void tile(const TileArgs& t, const float* a) {
  const Index step_r = t.a.transposed ? 1 : t.a.ld;
  const Index step_p = t.a.transposed ? t.a.ld : 1;
  __m256 lo[kRows], hi[kRows];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  const float* b = t.panel;
  for (Index p = 0; p < t.k; ++p, b += kPanel, a += step_p) {
    const __m256 b_lo = _mm256_loadu_ps(b);
    const __m256 b_hi = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * step_r);
      lo[r] = _mm256_fmadd_ps(x, b_lo, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, b_hi, hi[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) store_row(lo[r], hi[r], t.c + r * t.ldc, t.width, t.accumulate);
}

/// Tile of `rows` (1..kTileRows) rows starting at row i0 of op(A) and C.
void tile_rows(TileArgs t, Index i0, Index rows) {
  const float* a = t.a.transposed ? t.a.data + i0 : t.a.data + i0 * t.a.ld;
  t.c += i0 * t.ldc;
  switch (rows) {
    case 6: tile<6>(t, a); break;
    case 5: tile<5>(t, a); break;
    case 4: tile<4>(t, a); break;
    case 3: tile<3>(t, a); break;
    case 2: tile<2>(t, a); break;
    default: tile<1>(t, a); break;
  }
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#else
bool cpu_has_avx2_fma() {
  return false;
}
void tile_rows(TileArgs, Index, Index) {}
#endif

/// This thread's packing buffer, at least `floats` long (kept between calls).
float* scratch(Index floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < static_cast<std::size_t>(floats))
    buffer.resize(static_cast<std::size_t>(floats));
  return buffer.data();
}

/// The AVX2 path. On one thread: panel by panel (pack it, then every row tile against it).
/// With `parallel`, in a parallel region whose threads take work items dynamically: column
/// panels as above when there are at least two per thread, else row tiles (each thread first
/// packs every panel). The serial path has no worksharing construct, so it may run inside
/// another region's loop (DotInteraction calls it once per sample).
void gemm_panels(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
                 bool accumulate, bool parallel) {
  const Index panels = (n + kPanel - 1) / kPanel;
  const Index tiles = (m + kTileRows - 1) / kTileRows;
  auto run_tile = [&](const float* panel, Index jp, Index it) {
    const Index j0 = jp * kPanel;
    const Index i0 = it * kTileRows;
    tile_rows({a, panel, k, c + j0, ldc, std::min(kPanel, n - j0), accumulate}, i0,
              std::min(kTileRows, m - i0));
  };
  auto pack = [&](Index jp, float* out) {
    pack_panel(b, k, jp * kPanel, std::min(kPanel, n - jp * kPanel), out);
  };
  auto panel_item = [&](Index jp, float* packed) {
    pack(jp, packed);
    for (Index it = 0; it < tiles; ++it) run_tile(packed, jp, it);
  };
  if (!parallel) {
    float* packed = scratch(k * kPanel);
    for (Index jp = 0; jp < panels; ++jp) panel_item(jp, packed);
    return;
  }
#pragma omp parallel
  {
    const Index threads = ThreadShare::current().threads;
    if (panels >= 2 * threads) {
      float* packed = scratch(k * kPanel);
#pragma omp for schedule(dynamic, 1) nowait
      for (Index jp = 0; jp < panels; ++jp) panel_item(jp, packed);
    } else {
      float* packed = scratch(panels * k * kPanel);
      for (Index jp = 0; jp < panels; ++jp) pack(jp, packed + jp * k * kPanel);
#pragma omp for schedule(dynamic, 2) nowait
      for (Index it = 0; it < tiles; ++it) {
        for (Index jp = 0; jp < panels; ++jp) run_tile(packed + jp * k * kPanel, jp, it);
      }
    }
  }
}

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstStrided = Eigen::Map<const RowMajor, 0, Eigen::OuterStride<>>;
using Strided = Eigen::Map<RowMajor, 0, Eigen::OuterStride<>>;

/// fn(op(X)) with op(X) [rows x cols] as an Eigen expression.
template <class Fn>
void with_eigen(GemmOperand x, Index rows, Index cols, Fn&& fn) {
  if (x.transposed) {
    fn(ConstStrided(x.data, cols, rows, Eigen::OuterStride<>(x.ld)).transpose());
  } else {
    fn(ConstStrided(x.data, rows, cols, Eigen::OuterStride<>(x.ld)));
  }
}

}  // namespace

void gemm_eigen(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
                bool accumulate) {
  Strided out(c, m, n, Eigen::OuterStride<>(ldc));
  with_eigen(a, m, k, [&](const auto& op_a) {
    with_eigen(b, k, n, [&](const auto& op_b) {
      if (accumulate)
        out.noalias() += op_a * op_b;
      else
        out.noalias() = op_a * op_b;
    });
  });
}

namespace {

/// gemm's body; `parallel` opens a parallel region for the AVX2 kernel.
void dispatch(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
              bool accumulate, bool parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (Index i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    }
    return;
  }
  if (cpu_has_avx2_fma()) {
    gemm_panels(m, n, k, a, b, c, ldc, accumulate, parallel);
  } else {
    gemm_eigen(m, n, k, a, b, c, ldc, accumulate);
  }
}

}  // namespace
}  // namespace gemm_detail

void gemm(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
          bool accumulate) {
  gemm_detail::dispatch(m, n, k, a, b, c, ldc, accumulate, m * n * k >= kParallelWork);
}

void gemm_serial(Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c, Index ldc,
                 bool accumulate) {
  gemm_detail::dispatch(m, n, k, a, b, c, ldc, accumulate, false);
}

}  // namespace embcomp::kernels
