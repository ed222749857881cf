// Integer codes for embedding values: value = code * scale + offset, with signed codes in
// [-2^(b-1), 2^(b-1) - 1]. Writing uses stochastic rounding, floor(x + u) with u ~ U[0, 1),
// which is unbiased: E[decode(encode(x))] = x for x inside the representable range.
#pragma once

#include <cmath>
#include <cstdint>

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

/// Symmetric per-row scale that maps the row's largest magnitude to the largest code;
/// an all-zero row gets scale 1 so that decoding stays exact.
EMBCOMP_HD float symmetric_scale(float max_abs, int bits) {
  return max_abs > 0.0f ? max_abs / code_max(bits) : 1.0f;
}

}  // namespace embcomp::kernels
