// The dense layers on the device (dense_layers.hpp): their kernels and their drivers. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "dense_layers.hpp"

#include <type_traits>
#include <utility>

#include "backend.cuh"
#include "dense_gemm.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/activations.hpp"
#include "embcomp/kernels/batch_norm.hpp"
#include "sparse_update.cuh"

namespace embcomp::cuda::detail {

/// y [rows x cols] = b [cols] on every row (a bias before the product is accumulated onto it).
EMBCOMP_KERNEL void broadcast_row_kernel(const float* b, Index rows, Index cols, float* y) {
  for (Index i = thread_index(); i < rows * cols; i += thread_count()) y[i] = b[i % cols];
}

EMBCOMP_KERNEL void relu_kernel(const float* x, Index n, float* y) {
  for (Index i = thread_index(); i < n; i += thread_count()) y[i] = kernels::relu(x[i]);
}

/// dx = dy * relu'(x) (as nn::Activation: a multiply by 1 or 0, so NaN stays NaN).
EMBCOMP_KERNEL void relu_backward_kernel(const float* x, const float* dy, Index n, float* dx) {
  for (Index i = thread_index(); i < n; i += thread_count()) {
    dx[i] = dy[i] * kernels::relu_derivative(x[i]);
  }
}

/// out [cols] = the sum of m's rows, one thread per column, rows ascending (the CPU's order).
EMBCOMP_KERNEL void column_sums_kernel(const float* m, Index rows, Index cols, float* out) {
  for (Index c = thread_index(); c < cols; c += thread_count()) {
    float sum = 0.0f;
    for (Index r = 0; r < rows; ++r) sum += m[r * cols + c];
    out[c] = sum;
  }
}

/// dst[r][c] = src[r][c] for a [rows x cols] block of matrices with leading dimensions
/// src_ld and dst_ld (the pointers at the block's first element).
EMBCOMP_KERNEL void copy_block_kernel(const float* src, Index src_ld, Index rows, Index cols,
                                      float* dst, Index dst_ld) {
  for (Index i = thread_index(); i < rows * cols; i += thread_count()) {
    const Index r = i / cols;
    const Index c = i - r * cols;
    dst[r * dst_ld + c] = src[r * src_ld + c];
  }
}

/// out = a + b elementwise (a, b or out may coincide).
EMBCOMP_KERNEL void add_kernel(const float* a, const float* b, Index n, float* out) {
  for (Index i = thread_index(); i < n; i += thread_count()) out[i] = a[i] + b[i];
}

/// The dot interaction of z [B x V*d]: y [B x width] with, per sample, vector 0's d values first
/// when keep_first, then the dots of pairs (1,0), (2,0), (2,1), ... One thread per output value.
EMBCOMP_KERNEL void dot_forward_kernel(const float* z, Index batch, Index vectors, Index d,
                                       Index first, Index width, float* y) {
  for (Index i = thread_index(); i < batch * width; i += thread_count()) {
    const Index b = i / width;
    const Index o = i - b * width;
    const float* zb = z + b * vectors * d;
    if (o < first) {
      y[i] = zb[o];
      continue;
    }
    // Pair k = o - first of the strict lower triangle in row order: row v holds k in
    // [v(v-1)/2, v(v+1)/2).
    const Index k = o - first;
    Index v = 1;
    while ((v + 1) * v / 2 <= k) ++v;
    const Index u = k - v * (v - 1) / 2;
    float sum = 0.0f;
    for (Index c = 0; c < d; ++c) sum += zb[v * d + c] * zb[u * d + c];
    y[i] = sum;
  }
}

/// dz [B x V*d]: dz_v[c] = sum over u != v (ascending) of dy_(v,u) z_u[c], plus dy's first d
/// values on vector 0 when keep_first. One thread per (sample, vector, column).
EMBCOMP_KERNEL void dot_backward_kernel(const float* z, const float* dy, Index batch, Index vectors,
                                        Index d, Index first, Index width, float* dz) {
  const Index per_sample = vectors * d;
  for (Index i = thread_index(); i < batch * per_sample; i += thread_count()) {
    const Index b = i / per_sample;
    const Index v = (i - b * per_sample) / d;
    const Index c = i - b * per_sample - v * d;
    const float* zb = z + b * per_sample;
    const float* dots = dy + b * width + first;
    float sum = 0.0f;
    for (Index u = 0; u < vectors; ++u) {
      if (u == v) continue;
      const Index high = u > v ? u : v;
      const Index low = u > v ? v : u;
      sum += dots[high * (high - 1) / 2 + low] * zb[u * d + c];
    }
    if (v == 0 && first > 0) sum += dy[b * width + c];
    dz[i] = sum;
  }
}

/// out [rows] = m [rows x cols] w [cols] (a matrix-vector product, one thread per row).
EMBCOMP_KERNEL void rows_times_vector_kernel(const float* m, const float* w, Index rows, Index cols,
                                             float* out) {
  for (Index r = thread_index(); r < rows; r += thread_count()) {
    float sum = 0.0f;
    for (Index c = 0; c < cols; ++c) sum += m[r * cols + c] * w[c];
    out[r] = sum;
  }
}

/// out [rows] = the dot of a's and b's rows ([rows x cols] each), one thread per row.
EMBCOMP_KERNEL void row_dots_kernel(const float* a, const float* b, Index rows, Index cols,
                                    float* out) {
  for (Index r = thread_index(); r < rows; r += thread_count()) {
    float sum = 0.0f;
    for (Index c = 0; c < cols; ++c) sum += a[r * cols + c] * b[r * cols + c];
    out[r] = sum;
  }
}

/// out [cols] = m [rows x cols]ᵀ s [rows], one thread per column, rows ascending.
EMBCOMP_KERNEL void weighted_column_sums_kernel(const float* m, const float* s, Index rows,
                                                Index cols, float* out) {
  for (Index c = thread_index(); c < cols; c += thread_count()) {
    float sum = 0.0f;
    for (Index r = 0; r < rows; ++r) sum += m[r * cols + c] * s[r];
    out[c] = sum;
  }
}

/// The cross layer's output y = x0 ⊙ s + x_l + b ([rows x cols], s one scalar per row), in
/// nn::CrossLayer's order: (x0 * s + x_l) + b.
EMBCOMP_KERNEL void cross_forward_kernel(const float* x0, const float* xl, const float* s,
                                         const float* bias, Index rows, Index cols, float* y) {
  for (Index i = thread_index(); i < rows * cols; i += thread_count()) {
    const Index r = i / cols;
    y[i] = (x0[i] * s[r] + xl[i]) + bias[i - r * cols];
  }
}

/// The cross layer's input gradients: dx0 += g ⊙ s and dx_l = g + ds wᵀ.
EMBCOMP_KERNEL void cross_backward_kernel(const float* g, const float* s, const float* ds,
                                          const float* w, Index rows, Index cols, float* dx0,
                                          float* dxl) {
  for (Index i = thread_index(); i < rows * cols; i += thread_count()) {
    const Index r = i / cols;
    dx0[i] += g[i] * s[r];
    dxl[i] = g[i] + ds[r] * w[i - r * cols];
  }
}

/// Records the first index of a NaN or Inf among values [n] (offset by `base`).
EMBCOMP_KERNEL void first_non_finite_kernel(const float* values, Index n, Index base,
                                            unsigned long long* first) {
  for (Index i = thread_index(); i < n; i += thread_count()) {
    if (!is_finite(values[i])) atomicMin(first, static_cast<unsigned long long>(base + i));
  }
}

/// The rule over every element of a dense parameter [rows x width]: element (r, c)'s state at
/// slots * r * width + c with stride width (the CPU optimizer's layout and update_row's).
template <class Rule>
EMBCOMP_KERNEL void dense_update_kernel(float* w, const float* g, float* state, Index size,
                                        Index width, Rule rule, typename Rule::Coefficients k) {
  for (Index i = thread_index(); i < size; i += thread_count()) {
    const Index r = i / width;
    const Index c = i - r * width;
    rule.update_element(
        w[i], g[i], kernels::element_state<Rule>(state, Rule::kSlots * r * width + c), width, k);
  }
}

/// y = mish(x) elementwise.
EMBCOMP_KERNEL void mish_kernel(const float* x, Index n, float* y) {
  for (Index i = thread_index(); i < n; i += thread_count()) y[i] = kernels::mish(x[i]);
}

/// dx = dy * mish'(x) elementwise.
EMBCOMP_KERNEL void mish_backward_kernel(const float* x, const float* dy, Index n, float* dx) {
  for (Index i = thread_index(); i < n; i += thread_count()) {
    dx[i] = dy[i] * kernels::mish_derivative(x[i]);
  }
}

/// Per column c of x [B x C]: stats[0][c] = mean, stats[1][c] = biased variance (batch
/// statistics) or the running ones, stats[2][c] = 1 / sqrt(variance + eps); with `update` the
/// running statistics take the batch's (nn::BatchNorm::update_running_stats).
EMBCOMP_KERNEL void batch_norm_statistics_kernel(const float* x, Index rows, Index cols,
                                                 bool batch_statistics, bool update, float momentum,
                                                 float eps, float* running, float* stats) {
  for (Index c = thread_index(); c < cols; c += thread_count()) {
    float mean = running[c], var = running[cols + c];
    if (batch_statistics) {
      float sum = 0.0f;
      for (Index r = 0; r < rows; ++r) sum += x[r * cols + c];
      mean = sum / static_cast<float>(rows);
      float squares = 0.0f;
      for (Index r = 0; r < rows; ++r) {
        const float centered = x[r * cols + c] - mean;
        squares += centered * centered;
      }
      var = squares / static_cast<float>(rows);
      if (update)
        kernels::update_running_statistics(running[c], running[cols + c], mean, var, rows,
                                           momentum);
    }
    stats[c] = mean;
    stats[cols + c] = var;
    stats[2 * cols + c] = kernels::inverse_std(var, eps);
  }
}

/// x̂ = (x - mean) inv_std and y = x̂ gamma + beta, elementwise.
EMBCOMP_KERNEL void batch_norm_forward_kernel(const float* x, const float* stats,
                                              const float* gamma, const float* beta, Index rows,
                                              Index cols, float* normalized, float* y) {
  for (Index i = thread_index(); i < rows * cols; i += thread_count()) {
    const Index c = i % cols;
    const float xhat = (x[i] - stats[c]) * stats[2 * cols + c];
    normalized[i] = xhat;
    y[i] = xhat * gamma[c] + beta[c];
  }
}

/// Per column: dgamma = sum of dy x̂, dbeta = sum of dy (rows ascending).
EMBCOMP_KERNEL void batch_norm_parameter_grads_kernel(const float* dy, const float* normalized,
                                                      Index rows, Index cols, float* dgamma,
                                                      float* dbeta) {
  for (Index c = thread_index(); c < cols; c += thread_count()) {
    float sum = 0.0f, weighted = 0.0f;
    for (Index r = 0; r < rows; ++r) {
      sum += dy[r * cols + c];
      weighted += dy[r * cols + c] * normalized[r * cols + c];
    }
    dgamma[c] = weighted;
    dbeta[c] = sum;
  }
}

/// dx: with batch statistics (B dy - sum dy - x̂ sum(dy x̂)) gamma inv_std / B, else
/// dy gamma inv_std (dgamma and dbeta hold the two sums).
EMBCOMP_KERNEL void batch_norm_input_grad_kernel(const float* dy, const float* normalized,
                                                 const float* stats, const float* gamma,
                                                 const float* dgamma, const float* dbeta,
                                                 Index rows, Index cols, bool batch_statistics,
                                                 float* dx) {
  for (Index i = thread_index(); i < rows * cols; i += thread_count()) {
    const Index c = i % cols;
    const float scale = gamma[c] * stats[2 * cols + c];
    dx[i] = batch_statistics ? kernels::batch_norm_input_grad(dy[i], normalized[i], dbeta[c],
                                                              dgamma[c], scale, rows)
                             : dy[i] * scale;
  }
}

void ensure_dense_state(DenseParameter& p, const DeviceOptimizer& optimizer,
                        const std::string& owner) {
  const auto elements = static_cast<std::size_t>(p.size());
  ensure_optimizer_state(p.state, p.state_slots, elements, optimizer, owner + ": '" + p.name + "'",
                         elements);
}

void dense_step(DenseParameter& p, const DeviceOptimizer& optimizer, std::uint64_t step) {
  const float lr = optimizer.learning_rate * p.lr_scale;
  with_any_rule(optimizer, [&](const auto& rule) {
    launch(p.size(), dense_update_kernel<std::decay_t<decltype(rule)>>, p.values.data(),
           p.gradient.data(), p.state.data(), p.size(), p.width, rule, rule.coefficients(lr, step));
  });
}

void record_non_finite(const float* values, Index n, Index base, unsigned long long* first) {
  launch(n, first_non_finite_kernel, values, n, base, first);
}

void record_non_finite(const DenseParameter& p, Index base, unsigned long long* first) {
  record_non_finite(p.gradient.data(), p.size(), base, first);
}

void throw_non_finite(const std::deque<DenseParameter>& params, unsigned long long first,
                      const std::string& owner) {
  if (first == kNone) return;
  auto index = static_cast<Index>(first);
  for (const DenseParameter& p : params) {
    if (index < p.size()) {
      throw NonFiniteGradient(owner + ": the gradient of '" + p.name +
                              "' holds a NaN or Inf at element " + std::to_string(index) +
                              "; the step was refused and nothing was changed");
    }
    index -= p.size();
  }
}

void check_finite_gradients(const std::deque<DenseParameter>& params,
                            DeviceArray<unsigned long long>& flag, const std::string& owner) {
  fill_device(flag.data(), 0xff, sizeof(unsigned long long));
  Index base = 0;
  for (const DenseParameter& p : params) {
    record_non_finite(p, base, flag.data());
    base += p.size();
  }
  throw_non_finite(params, flag.to_host()[0], owner);
}

void copy_columns(const float* src, Index src_ld, Index src_col, Index rows, Index cols, float* dst,
                  Index dst_ld, Index dst_col) {
  if (cols == 0) return;
  launch(rows * cols, copy_block_kernel, src + src_col, src_ld, rows, cols, dst + dst_col, dst_ld);
}

void add(const float* a, const float* b, Index n, float* out) {
  launch(n, add_kernel, a, b, n, out);
}

const float* LinearLayer::forward(const float* x, Index batch) {
  input_ = x;
  batch_ = batch;
  float* y = output_.resize(batch, out());
  if (bias_ != nullptr) {
    launch(batch * out(), broadcast_row_kernel, bias_->values.data(), batch, out(), y);
  }
  gemm(batch, out(), in(), {x, in()}, {weight_->values.data(), out()}, y, out(),
       /*accumulate=*/bias_ != nullptr);
  return y;
}

const float* LinearLayer::backward(const float* dy) {
  gemm(in(), out(), batch_, {input_, in(), /*transposed=*/true}, {dy, out()},
       weight_->gradient.data(), out());
  if (bias_ != nullptr) {
    launch(out(), column_sums_kernel, dy, batch_, out(), bias_->gradient.data());
  }
  float* dx = input_grad_.resize(batch_, in());
  gemm(batch_, in(), out(), {dy, out()}, {weight_->values.data(), out(), true}, dx, in());
  return dx;
}

const float* ActivationLayer::forward(const float* x, Index batch, Index width) {
  input_ = x;
  size_ = batch * width;
  float* y = output_.resize(batch, width);
  if (kind_ == Kind::relu) {
    launch(size_, relu_kernel, x, size_, y);
  } else {
    launch(size_, mish_kernel, x, size_, y);
  }
  return y;
}

const float* ActivationLayer::backward(const float* dy) {
  float* dx = input_grad_.resize(size_, 1);
  if (kind_ == Kind::relu) {
    launch(size_, relu_backward_kernel, input_, dy, size_, dx);
  } else {
    launch(size_, mish_backward_kernel, input_, dy, size_, dx);
  }
  return dx;
}

const float* BatchNormLayer::forward(const float* x, Index batch, bool batch_statistics,
                                     bool update_running) {
  const Index C = channels();
  batch_ = batch;
  batch_statistics_ = batch_statistics;
  float* stats = statistics_.resize(3, C);
  launch(C, batch_norm_statistics_kernel, x, batch, C, batch_statistics,
         batch_statistics && update_running, momentum_, eps_, running_->values.data(), stats);
  float* y = output_.resize(batch, C);
  launch(batch * C, batch_norm_forward_kernel, x, static_cast<const float*>(stats),
         gamma_->values.data(), beta_->values.data(), batch, C, normalized_.resize(batch, C), y);
  return y;
}

const float* BatchNormLayer::backward(const float* dy) {
  const Index C = channels();
  launch(C, batch_norm_parameter_grads_kernel, dy, static_cast<const float*>(normalized_.data()),
         batch_, C, gamma_->gradient.data(), beta_->gradient.data());
  float* dx = input_grad_.resize(batch_, C);
  launch(batch_ * C, batch_norm_input_grad_kernel, dy,
         static_cast<const float*>(normalized_.data()),
         static_cast<const float*>(statistics_.data()), gamma_->values.data(),
         static_cast<const float*>(gamma_->gradient.data()),
         static_cast<const float*>(beta_->gradient.data()), batch_, C, batch_statistics_, dx);
  return dx;
}

MlpLayers::MlpLayers(std::deque<LinearLayer> linears, bool relu_last)
    : linears_(std::move(linears)), relu_last_(relu_last) {
  for (std::size_t i = 0; i < linears_.size(); ++i)
    activations_.emplace_back(ActivationLayer::Kind::relu);
}

const float* MlpLayers::forward(const float* x, Index batch) {
  for (std::size_t i = 0; i < linears_.size(); ++i) {
    x = linears_[i].forward(x, batch);
    if (has_relu(i)) x = activations_[i].forward(x, batch, linears_[i].out());
  }
  return x;
}

const float* MlpLayers::backward(const float* dy) {
  for (std::size_t i = linears_.size(); i-- > 0;) {
    if (has_relu(i)) dy = activations_[i].backward(dy);
    dy = linears_[i].backward(dy);
  }
  return dy;
}

std::size_t MlpLayers::bytes() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < linears_.size(); ++i) {
    total += linears_[i].bytes() + activations_[i].bytes();
  }
  return total;
}

const float* DotLayer::forward(const float* z, Index batch) {
  input_ = z;
  batch_ = batch;
  float* y = output_.resize(batch, out());
  launch(batch * out(), dot_forward_kernel, z, batch, vectors_, dim_, first_, out(), y);
  return y;
}

const float* DotLayer::backward(const float* dy) {
  float* dz = input_grad_.resize(batch_, vectors_ * dim_);
  launch(batch_ * vectors_ * dim_, dot_backward_kernel, input_, dy, batch_, vectors_, dim_, first_,
         out(), dz);
  return dz;
}

const float* CrossLayer::forward(const float* x0, const float* xl, Index batch) {
  x0_ = x0;
  xl_ = xl;
  batch_ = batch;
  float* s = scalars_.resize(batch, 1);
  launch(batch, rows_times_vector_kernel, xl, weight_->values.data(), batch, width(), s);
  float* y = output_.resize(batch, width());
  launch(batch * width(), cross_forward_kernel, x0, xl, static_cast<const float*>(s),
         bias_->values.data(), batch, width(), y);
  return y;
}

const float* CrossLayer::backward(const float* dy, float* dx0) {
  float* ds = scalar_grads_.resize(batch_, 1);
  launch(batch_, row_dots_kernel, dy, x0_, batch_, width(), ds);
  launch(width(), column_sums_kernel, dy, batch_, width(), bias_->gradient.data());
  launch(width(), weighted_column_sums_kernel, xl_, static_cast<const float*>(ds), batch_, width(),
         weight_->gradient.data());
  float* dxl = input_grad_.resize(batch_, width());
  launch(batch_ * width(), cross_backward_kernel, dy, static_cast<const float*>(scalars_.data()),
         static_cast<const float*>(ds), weight_->values.data(), batch_, width(), dx0, dxl);
  return dxl;
}

}  // namespace embcomp::cuda::detail
