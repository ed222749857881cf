// Batch normalisation's per-column arithmetic, written once for nn::BatchNorm and the CUDA
// BatchNormLayer (host+device). Both sum a column's rows in ascending order (the CPU row by row
// across the columns, the device one column per thread), so in host mode the two agree bit for
// bit. Over a column of B rows:
//   mean = sum x / B,  var = sum (x - mean)^2 / B (biased),  inv_std = 1 / sqrt(var + eps)
//   running mean and variance: (1 - m) running + m batch (the variance's unbiased, B / (B - 1);
//   a batch of one row moves the variance by its biased value, 0)
//   dx = (B dy - sum dy - x̂ sum(dy x̂)) (gamma inv_std / B) with batch statistics.
#pragma once

#include <algorithm>
#include <cmath>

#include "embcomp/core/types.hpp"
#include "embcomp/kernels/host_device.hpp"

namespace embcomp::kernels {

/// 1 / sqrt(var + eps), correctly rounded (not a fast reciprocal square root).
EMBCOMP_HD float inverse_std(float var, float eps) {
  return 1.0f / std::sqrt(var + eps);
}

/// The running statistics after a batch of `rows` with `mean` and biased `var`.
EMBCOMP_HD void update_running_statistics(float& running_mean, float& running_var, float mean,
                                          float var, Index rows, float momentum) {
  const float unbiased = rows > 1 ? static_cast<float>(rows) / static_cast<float>(rows - 1) : 1.0f;
  running_mean = (1.0f - momentum) * running_mean + momentum * mean;
  running_var = (1.0f - momentum) * running_var + momentum * unbiased * var;
}

/// dx of one element with batch statistics: dy and x̂ the element's, sum_dy and sum_dy_xhat its
/// column's sums, scale = gamma inv_std of its column.
EMBCOMP_HD float batch_norm_input_grad(float dy, float xhat, float sum_dy, float sum_dy_xhat,
                                       float scale, Index rows) {
  const auto batch = static_cast<float>(rows);
  return (batch * dy - sum_dy - xhat * sum_dy_xhat) * (scale / batch);
}

/// Host: mean and biased var [cols] of the columns of x [rows x cols] (row-major), each column's
/// rows summed in ascending order (row by row across the columns, which vectorises), as the
/// device sums them.
inline void batch_statistics(const float* x, Index rows, Index cols, float* mean, float* var) {
  std::fill_n(mean, cols, 0.0f);
  std::fill_n(var, cols, 0.0f);
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) mean[c] += x[r * cols + c];
  }
  for (Index c = 0; c < cols; ++c) mean[c] /= static_cast<float>(rows);
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) {
      const float centered = x[r * cols + c] - mean[c];
      var[c] += centered * centered;
    }
  }
  for (Index c = 0; c < cols; ++c) var[c] /= static_cast<float>(rows);
}

/// Host: the column sums backward needs, sum_dy and sum_dy_xhat [cols] over dy and x̂
/// [rows x cols], rows in ascending order.
inline void batch_norm_column_sums(const float* dy, const float* xhat, Index rows, Index cols,
                                   float* sum_dy, float* sum_dy_xhat) {
  std::fill_n(sum_dy, cols, 0.0f);
  std::fill_n(sum_dy_xhat, cols, 0.0f);
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) {
      sum_dy[c] += dy[r * cols + c];
      sum_dy_xhat[c] += dy[r * cols + c] * xhat[r * cols + c];
    }
  }
}

}  // namespace embcomp::kernels
