// Integer codes for embedding values: value = code * scale + offset, with signed codes in
// [-2^(b-1), 2^(b-1) - 1]. Writing uses stochastic rounding, floor(x + u) with u ~ U[0, 1),
// which is unbiased: E[decode(encode(x))] = x for x inside the representable range.
#pragma once

#include <cmath>
#include <cstdint>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// Smallest and largest code of a signed b-bit integer.
EMBCOMP_HD float code_min(int bits) { return -static_cast<float>(1 << (bits - 1)); }
EMBCOMP_HD float code_max(int bits) { return static_cast<float>((1 << (bits - 1)) - 1); }

EMBCOMP_HD float dequantize(float code, float scale, float offset) { return code * scale + offset; }

/// Code for `value`, rounded stochastically with `u` in [0, 1) and saturated to the b-bit range.
EMBCOMP_HD float quantize_stochastic(float value, float scale, float offset, int bits, float u) {
  const float q = std::floor((value - offset) / scale + u);
  return std::fmin(std::fmax(q, code_min(bits)), code_max(bits));
}

/// Code for `value` rounded to nearest (deterministic; used for serving conversions).
EMBCOMP_HD float quantize_nearest(float value, float scale, float offset, int bits) {
  const float q = std::nearbyint((value - offset) / scale);
  return std::fmin(std::fmax(q, code_min(bits)), code_max(bits));
}

/// LSQ's gradient of the quantized value round(w / step) * step with respect to step, for one
/// element (Esser et al., ICLR 2020; the rounding's gradient taken as 1): round(v) - v with
/// v = w / step inside the code range, the range's end outside it. Rounds half up, as ALPT.
EMBCOMP_HD float lsq_step_derivative(float w, float step, int bits) {
  const float v = w / step;
  if (v <= code_min(bits)) return code_min(bits);
  if (v >= code_max(bits)) return code_max(bits);
  return std::floor(v + 0.5f) - v;
}

/// dLoss/dstep of a row's step size: sum over its width elements of g[c] (dLoss/d of the
/// quantized value) times lsq_step_derivative(w[c]), scaled by LSQ's 1 / sqrt(width * Qp).
EMBCOMP_HD float lsq_step_gradient(const float* w, const float* g, Index width, float step, int bits) {
  float sum = 0.0f;
  for (Index c = 0; c < width; ++c) sum += g[c] * lsq_step_derivative(w[c], step, bits);
  return sum / std::sqrt(static_cast<float>(width) * code_max(bits));
}

/// The smallest learned step size (ALPT): unbounded, a step could reach 0 or below, where
/// decoding loses the row's sign or every value (methods/alpt.hpp).
inline constexpr float kMinLearnedStep = 1e-10f;

/// Symmetric per-row scale that maps the row's largest magnitude to the largest code;
/// an all-zero row gets scale 1 so that decoding stays exact.
EMBCOMP_HD float symmetric_scale(float max_abs, int bits) {
  return max_abs > 0.0f ? max_abs / code_max(bits) : 1.0f;
}

}  // namespace embcomp::kernels
