// DeviceModel (cuda/include/embcomp/cuda/device_model.hpp): the dense layers' kernels, the
// three heads and their driver. The same source builds under nvcc and, in host mode, as C++
// against the shim (host/); the matrix products go through detail::gemm (dense_gemm.hpp).
//
// Every layer mirrors its CPU twin in nn/ (same shapes, same order of operations where the CPU
// fixes one): Linear y = x W + b, ReLU, the dot interaction (strict lower triangle, DLRM's first
// vector kept), the cross layer x0 ⊙ (x_l w) + x_l + b, and the heads' concatenations.
#include "embcomp/cuda/device_model.hpp"

#include <deque>
#include <stdexcept>
#include <string>
#include <utility>

#include "backend.cuh"
#include "dense_gemm.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/activations.hpp"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

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

/// Per sample: its loss softplus(z) - y z and dlogit (sigmoid(z) - y) / B (nn::bce_with_logits).
EMBCOMP_KERNEL void bce_kernel(const float* logits, const float* labels, Index batch,
                               float inv_batch, float* losses, float* dlogits) {
  for (Index b = thread_index(); b < batch; b += thread_count()) {
    losses[b] = kernels::bce_with_logits(logits[b], labels[b]);
    dlogits[b] = kernels::bce_with_logits_derivative(logits[b], labels[b]) * inv_batch;
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

/// One dense parameter of the model on the device: values, the last gradient and the optimizer
/// state ([rows x slots*width], allocated at the first stateful step).
struct DenseParameter {
  std::string name;
  Index rows = 0;
  Index width = 0;
  float lr_scale = 1.0f;
  DeviceArray<float> values;
  DeviceArray<float> gradient;
  DeviceArray<float> state;
  int state_slots = -1;

  Index size() const { return rows * width; }
};

/// A [rows x cols] device matrix reused from batch to batch (grows, never shrinks).
class Activations {
 public:
  float* resize(Index rows, Index cols) {
    values_.reserve(static_cast<std::size_t>(rows * cols));
    rows_ = rows;
    cols_ = cols;
    return values_.data();
  }
  float* data() { return values_.data(); }
  std::size_t bytes() const { return values_.size() * sizeof(float); }

 private:
  DeviceArray<float> values_;
  Index rows_ = 0;
  Index cols_ = 0;
};

/// dst's columns [dst_col, dst_col + cols) of [rows x dst_ld] = src's [src_col, src_col + cols)
/// of [rows x src_ld].
void copy_columns(const float* src, Index src_ld, Index src_col, Index rows, Index cols, float* dst,
                  Index dst_ld, Index dst_col) {
  if (cols == 0) return;
  launch(rows * cols, detail::copy_block_kernel, src + src_col, src_ld, rows, cols, dst + dst_col,
         dst_ld);
}

/// y [B x out] = x [B x in] W [in x out] + b (nn::Linear): the bias broadcast, then the product
/// accumulated onto it, as the CPU layer.
class LinearLayer {
 public:
  LinearLayer(DenseParameter& weight, DenseParameter* bias) : weight_(&weight), bias_(bias) {}

  Index in() const { return weight_->rows; }
  Index out() const { return weight_->width; }

  const float* forward(const float* x, Index batch) {
    input_ = x;
    batch_ = batch;
    float* y = output_.resize(batch, out());
    if (bias_ != nullptr)
      launch(batch * out(), detail::broadcast_row_kernel, bias_->values.data(), batch, out(), y);
    detail::gemm(batch, out(), in(), {x, in()}, {weight_->values.data(), out()}, y, out(),
                 /*accumulate=*/bias_ != nullptr);
    return y;
  }

  /// dW = xᵀ dy, db = column sums of dy; returns dx = dy Wᵀ.
  const float* backward(const float* dy) {
    detail::gemm(in(), out(), batch_, {input_, in(), /*transposed=*/true}, {dy, out()},
                 weight_->gradient.data(), out());
    if (bias_ != nullptr)
      launch(out(), detail::column_sums_kernel, dy, batch_, out(), bias_->gradient.data());
    float* dx = input_grad_.resize(batch_, in());
    detail::gemm(batch_, in(), out(), {dy, out()}, {weight_->values.data(), out(), true}, dx, in());
    return dx;
  }

  std::size_t bytes() const { return output_.bytes() + input_grad_.bytes(); }

 private:
  DenseParameter* weight_;
  DenseParameter* bias_;
  const float* input_ = nullptr;
  Index batch_ = 0;
  Activations output_;
  Activations input_grad_;
};

/// Linear layers, each followed by ReLU but the last, which has ReLU when `relu_last` (nn::MLP
/// with hidden ReLU and the last activation ReLU or none).
class MlpLayers {
 public:
  MlpLayers(std::deque<LinearLayer> linears, bool relu_last)
      : linears_(std::move(linears)),
        relu_last_(relu_last),
        pre_activation_(linears_.size()),
        activated_(linears_.size()),
        activation_grad_(linears_.size()) {}

  Index in() const { return linears_.front().in(); }
  Index out() const { return linears_.back().out(); }

  const float* forward(const float* x, Index batch) {
    batch_ = batch;
    for (std::size_t i = 0; i < linears_.size(); ++i) {
      const float* y = linears_[i].forward(x, batch);
      if (!has_relu(i)) {
        x = y;
        continue;
      }
      pre_activation_[i] = y;
      float* a = activated_[i].resize(batch, linears_[i].out());
      launch(batch * linears_[i].out(), detail::relu_kernel, y, batch * linears_[i].out(), a);
      x = a;
    }
    return x;
  }

  const float* backward(const float* dy) {
    for (std::size_t i = linears_.size(); i-- > 0;) {
      if (has_relu(i)) {
        const Index n = batch_ * linears_[i].out();
        float* da = activation_grad_[i].resize(batch_, linears_[i].out());
        launch(n, detail::relu_backward_kernel, pre_activation_[i], dy, n, da);
        dy = da;
      }
      dy = linears_[i].backward(dy);
    }
    return dy;
  }

  std::size_t bytes() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < linears_.size(); ++i) {
      total += linears_[i].bytes() + activated_[i].bytes() + activation_grad_[i].bytes();
    }
    return total;
  }

 private:
  bool has_relu(std::size_t i) const { return i + 1 < linears_.size() || relu_last_; }

  std::deque<LinearLayer> linears_;
  bool relu_last_;
  std::vector<const float*> pre_activation_;
  std::deque<Activations> activated_;
  std::deque<Activations> activation_grad_;
  Index batch_ = 0;
};

/// DLRM's dot interaction on z [B x V*d] (nn::DotInteraction).
class DotLayer {
 public:
  DotLayer(Index vectors, Index dim, bool keep_first)
      : vectors_(vectors), dim_(dim), first_(keep_first ? dim : 0) {}

  Index out() const { return first_ + vectors_ * (vectors_ - 1) / 2; }

  const float* forward(const float* z, Index batch) {
    input_ = z;
    batch_ = batch;
    float* y = output_.resize(batch, out());
    launch(batch * out(), detail::dot_forward_kernel, z, batch, vectors_, dim_, first_, out(), y);
    return y;
  }

  const float* backward(const float* dy) {
    float* dz = input_grad_.resize(batch_, vectors_ * dim_);
    launch(batch_ * vectors_ * dim_, detail::dot_backward_kernel, input_, dy, batch_, vectors_,
           dim_, first_, out(), dz);
    return dz;
  }

  std::size_t bytes() const { return output_.bytes() + input_grad_.bytes(); }

 private:
  Index vectors_;
  Index dim_;
  Index first_;
  const float* input_ = nullptr;
  Index batch_ = 0;
  Activations output_;
  Activations input_grad_;
};

/// DCN's cross layer x_{l+1} = x0 ⊙ (x_l w) + x_l + b (nn::CrossLayer).
class CrossLayer {
 public:
  CrossLayer(DenseParameter& weight, DenseParameter& bias) : weight_(&weight), bias_(&bias) {}

  Index width() const { return bias_->width; }

  const float* forward(const float* x0, const float* xl, Index batch) {
    x0_ = x0;
    xl_ = xl;
    batch_ = batch;
    float* s = scalars_.resize(batch, 1);
    launch(batch, detail::rows_times_vector_kernel, xl, weight_->values.data(), batch, width(), s);
    float* y = output_.resize(batch, width());
    launch(batch * width(), detail::cross_forward_kernel, x0, xl, s, bias_->values.data(), batch,
           width(), y);
    return y;
  }

  /// Returns dx_l; adds the x0 term into dx0 [B x n].
  const float* backward(const float* dy, float* dx0) {
    float* ds = scalar_grads_.resize(batch_, 1);
    launch(batch_, detail::row_dots_kernel, dy, x0_, batch_, width(), ds);
    launch(width(), detail::column_sums_kernel, dy, batch_, width(), bias_->gradient.data());
    launch(width(), detail::weighted_column_sums_kernel, xl_, ds, batch_, width(),
           weight_->gradient.data());
    float* dxl = input_grad_.resize(batch_, width());
    launch(batch_ * width(), detail::cross_backward_kernel, dy, scalars_.data(), ds,
           weight_->values.data(), batch_, width(), dx0, dxl);
    return dxl;
  }

  std::size_t bytes() const {
    return scalars_.bytes() + scalar_grads_.bytes() + output_.bytes() + input_grad_.bytes();
  }

 private:
  DenseParameter* weight_;
  DenseParameter* bias_;
  const float* x0_ = nullptr;
  const float* xl_ = nullptr;
  Index batch_ = 0;
  Activations scalars_;
  Activations scalar_grads_;
  Activations output_;
  Activations input_grad_;
};

}  // namespace detail

using detail::Activations;
using detail::copy_columns;
using detail::CrossLayer;
using detail::DenseParameter;
using detail::DotLayer;
using detail::launch;
using detail::LinearLayer;
using detail::MlpLayers;

/// The parameters, the flags and the loss scratch every head shares; each head adds its layers.
struct DeviceModel::Impl {
  std::string name;
  Index fields = 0;
  Index dim = 0;
  Index num_dense = 0;
  std::deque<DenseParameter> parameters;  // the CPU model's order; a deque keeps addresses
  DeviceArray<unsigned long long> first_bad{1};
  DeviceArray<float> losses;
  Index batch = 0;

  virtual ~Impl() = default;
  virtual void forward(const float* dense, const float* embeddings, float* logits) = 0;
  virtual void backward(const float* dlogits, float* dE) = 0;
  virtual std::size_t activation_bytes() const = 0;

  Index embedding_width() const { return fields * dim; }

  DenseParameter* find(const std::string& parameter) {
    for (DenseParameter& p : parameters) {
      if (p.name == parameter) return &p;
    }
    return nullptr;
  }
  DenseParameter& at(const std::string& parameter) {
    if (DenseParameter* p = find(parameter)) return *p;
    throw InvalidArgument("cuda (" + name + " model): no parameter '" + parameter + "'");
  }
  const DenseParameter& at(const std::string& parameter) const {
    return const_cast<Impl*>(this)->at(parameter);
  }

  /// Layer `prefix`'s Linear ("<prefix>.weight", and "<prefix>.bias" unless `bias` is false).
  LinearLayer linear(const std::string& prefix, bool bias = true) {
    return {at(prefix + ".weight"), bias ? &at(prefix + ".bias") : nullptr};
  }
  /// The MLP "<prefix>.0", "<prefix>.1", ... (as many layers as the CPU model has).
  MlpLayers mlp(const std::string& prefix, bool relu_last) {
    std::deque<LinearLayer> layers;
    for (std::size_t i = 0; find(prefix + "." + std::to_string(i) + ".weight") != nullptr; ++i) {
      layers.push_back(linear(prefix + "." + std::to_string(i)));
    }
    if (layers.empty())
      throw InvalidArgument("cuda (" + name + " model): no layer '" + prefix + ".0'");
    return MlpLayers(std::move(layers), relu_last);
  }
  /// InvalidArgument unless `layer` reads `width` inputs (the CPU model's shape).
  void expect_input(const char* layer, Index in, Index width) const {
    if (in != width) {
      throw InvalidArgument("cuda (" + name + " model): layer " + layer + " reads " +
                            std::to_string(in) + " values, the model gives it " +
                            std::to_string(width));
    }
  }
};

namespace {

/// DLRM (models/dlrm.hpp): the bottom MLP on the dense features (none without them), the dot
/// interaction of [bottom output; F embeddings], the top MLP to the logit.
class DlrmImpl : public DeviceModel::Impl {
 public:
  void build() {
    const bool dense = num_dense > 0;
    if (dense) {
      bottom_.emplace_back(mlp("bottom", /*relu_last=*/true));
      expect_input("bottom", bottom_.front().in(), num_dense);
    }
    vectors_ = fields + (dense ? 1 : 0);
    dot_.emplace_back(vectors_, dim, dense);
    top_.emplace_back(mlp("top", /*relu_last=*/false));
    expect_input("top", top_.front().in(), dot_.front().out());
  }

  void forward(const float* dense, const float* embeddings, float* logits) override {
    float* stacked = stacked_.resize(batch, vectors_ * dim);
    Index column = 0;
    if (!bottom_.empty()) {
      copy_columns(bottom_.front().forward(dense, batch), dim, 0, batch, dim, stacked,
                   vectors_ * dim, 0);
      column = dim;
    }
    copy_columns(embeddings, embedding_width(), 0, batch, embedding_width(), stacked,
                 vectors_ * dim, column);
    const float* logit = top_.front().forward(dot_.front().forward(stacked, batch), batch);
    copy_columns(logit, 1, 0, batch, 1, logits, 1, 0);
  }

  void backward(const float* dlogits, float* dE) override {
    const float* dstacked = dot_.front().backward(top_.front().backward(dlogits));
    const Index first = bottom_.empty() ? 0 : dim;
    copy_columns(dstacked, vectors_ * dim, first, batch, embedding_width(), dE, embedding_width(),
                 0);
    if (bottom_.empty()) return;
    float* dfirst = bottom_grad_.resize(batch, dim);
    copy_columns(dstacked, vectors_ * dim, 0, batch, dim, dfirst, dim, 0);
    bottom_.front().backward(dfirst);
  }

  std::size_t activation_bytes() const override {
    std::size_t total =
        stacked_.bytes() + bottom_grad_.bytes() + dot_.front().bytes() + top_.front().bytes();
    if (!bottom_.empty()) total += bottom_.front().bytes();
    return total;
  }

 private:
  Index vectors_ = 0;
  std::deque<MlpLayers> bottom_;  // empty without dense features
  std::deque<DotLayer> dot_;
  std::deque<MlpLayers> top_;
  Activations stacked_;
  Activations bottom_grad_;
};

/// The [B x F*d + Dd] input of WDL and DCN: the embeddings, then the dense features.
class ConcatInput {
 public:
  float* build(const float* embeddings, const float* dense, Index batch, Index embedding_width,
               Index num_dense) {
    const Index width = embedding_width + num_dense;
    float* x = values_.resize(batch, width);
    copy_columns(embeddings, embedding_width, 0, batch, embedding_width, x, width, 0);
    copy_columns(dense, num_dense, 0, batch, num_dense, x, width, embedding_width);
    return x;
  }
  std::size_t bytes() const { return values_.bytes(); }

 private:
  Activations values_;
};

/// Wide & Deep (models/wdl.hpp): logit = deep(x) + wide(x) on x = [embeddings; dense].
class WdlImpl : public DeviceModel::Impl {
 public:
  void build() {
    deep_.emplace_back(mlp("deep", /*relu_last=*/false));
    wide_.emplace_back(linear("wide", /*bias=*/false));
    expect_input("deep", deep_.front().in(), input_width());
    expect_input("wide", wide_.front().in(), input_width());
  }

  void forward(const float* dense, const float* embeddings, float* logits) override {
    const float* x = input_.build(embeddings, dense, batch, embedding_width(), num_dense);
    const float* deep = deep_.front().forward(x, batch);
    const float* wide = wide_.front().forward(x, batch);
    launch(batch, detail::add_kernel, deep, wide, batch, logits);
  }

  void backward(const float* dlogits, float* dE) override {
    const float* ddeep = deep_.front().backward(dlogits);
    const float* dwide = wide_.front().backward(dlogits);
    float* dx = input_grad_.resize(batch, input_width());
    launch(batch * input_width(), detail::add_kernel, ddeep, dwide, batch * input_width(), dx);
    copy_columns(dx, input_width(), 0, batch, embedding_width(), dE, embedding_width(), 0);
  }

  std::size_t activation_bytes() const override {
    return input_.bytes() + input_grad_.bytes() + deep_.front().bytes() + wide_.front().bytes();
  }

 private:
  Index input_width() const { return embedding_width() + num_dense; }

  ConcatInput input_;
  std::deque<MlpLayers> deep_;
  std::deque<LinearLayer> wide_;
  Activations input_grad_;
};

/// Deep & Cross (models/dcn.hpp): cross layers on x0 = [embeddings; dense], a deep MLP on x0,
/// the logit a Linear of [cross output; deep output].
class DcnImpl : public DeviceModel::Impl {
 public:
  void build() {
    for (std::size_t l = 0; find("cross." + std::to_string(l) + ".weight") != nullptr; ++l) {
      const std::string prefix = "cross." + std::to_string(l);
      cross_.emplace_back(at(prefix + ".weight"), at(prefix + ".bias"));
      expect_input(prefix.c_str(), cross_.back().width(), input_width());
    }
    deep_.emplace_back(mlp("deep", /*relu_last=*/false));
    head_.emplace_back(linear("head"));
    expect_input("deep", deep_.front().in(), input_width());
    expect_input("head", head_.front().in(), input_width() + deep_.front().out());
  }

  void forward(const float* dense, const float* embeddings, float* logits) override {
    const float* x0 = input_.build(embeddings, dense, batch, embedding_width(), num_dense);
    const float* x = x0;
    for (CrossLayer& layer : cross_) x = layer.forward(x0, x, batch);
    const float* deep = deep_.front().forward(x0, batch);
    const Index joined_width = input_width() + deep_.front().out();
    float* joined = joined_.resize(batch, joined_width);
    copy_columns(x, input_width(), 0, batch, input_width(), joined, joined_width, 0);
    copy_columns(deep, deep_.front().out(), 0, batch, deep_.front().out(), joined, joined_width,
                 input_width());
    const float* logit = head_.front().forward(joined, batch);
    copy_columns(logit, 1, 0, batch, 1, logits, 1, 0);
  }

  /// dx0 collects the deep MLP's input gradient, every cross layer's x0 term and the first cross
  /// layer's x_l term, in the CPU's order.
  void backward(const float* dlogits, float* dE) override {
    const Index deep_width = deep_.front().out();
    const Index joined_width = input_width() + deep_width;
    const float* djoined = head_.front().backward(dlogits);
    float* dcross = cross_grad_.resize(batch, input_width());
    float* ddeep = deep_grad_.resize(batch, deep_width);
    copy_columns(djoined, joined_width, 0, batch, input_width(), dcross, input_width(), 0);
    copy_columns(djoined, joined_width, input_width(), batch, deep_width, ddeep, deep_width, 0);
    float* dx0 = input_grad_.resize(batch, input_width());
    copy_columns(deep_.front().backward(ddeep), input_width(), 0, batch, input_width(), dx0,
                 input_width(), 0);
    const float* dx = dcross;
    for (auto layer = cross_.rbegin(); layer != cross_.rend(); ++layer)
      dx = layer->backward(dx, dx0);
    launch(batch * input_width(), detail::add_kernel, dx0, dx, batch * input_width(), dx0);
    copy_columns(dx0, input_width(), 0, batch, embedding_width(), dE, embedding_width(), 0);
  }

  std::size_t activation_bytes() const override {
    std::size_t total = input_.bytes() + joined_.bytes() + cross_grad_.bytes() +
                        deep_grad_.bytes() + input_grad_.bytes() + deep_.front().bytes() +
                        head_.front().bytes();
    for (const CrossLayer& layer : cross_) total += layer.bytes();
    return total;
  }

 private:
  Index input_width() const { return embedding_width() + num_dense; }

  ConcatInput input_;
  std::deque<CrossLayer> cross_;
  std::deque<MlpLayers> deep_;
  std::deque<LinearLayer> head_;
  Activations joined_;
  Activations cross_grad_;
  Activations deep_grad_;
  Activations input_grad_;
};

template <class Head>
std::unique_ptr<DeviceModel::Impl> make_head(const DeviceModel::HostModel& host) {
  auto head = std::make_unique<Head>();
  head->name = host.name;
  head->fields = host.fields;
  head->dim = host.dim;
  head->num_dense = host.num_dense;
  for (const DeviceModel::HostParameter& p : host.parameters) {
    DenseParameter& param = head->parameters.emplace_back();
    param.name = p.name;
    param.rows = p.rows;
    param.width = p.width;
    param.lr_scale = p.lr_scale;
    param.values = DeviceArray<float>::from({p.values, static_cast<std::size_t>(p.rows * p.width)});
    param.gradient = DeviceArray<float>(static_cast<std::size_t>(p.rows * p.width));
  }
  head->build();
  return head;
}

}  // namespace

std::unique_ptr<DeviceModel> DeviceModel::build(const HostModel& host) {
  if (host.fields < 1 || host.dim < 1 || host.num_dense < 0) {
    throw InvalidArgument("cuda: model '" + host.name + "' has no fields or no width");
  }
  std::unique_ptr<Impl> impl;
  if (host.name == "dlrm") {
    impl = make_head<DlrmImpl>(host);
  } else if (host.name == "wdl") {
    impl = make_head<WdlImpl>(host);
  } else if (host.name == "dcn") {
    impl = make_head<DcnImpl>(host);
  } else {
    throw InvalidArgument("cuda: model '" + host.name +
                          "' has no device twin (those with one: dlrm, wdl, dcn)");
  }
  return std::unique_ptr<DeviceModel>(new DeviceModel(std::move(impl)));
}

DeviceModel::DeviceModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceModel::~DeviceModel() = default;

const std::string& DeviceModel::name() const {
  return impl_->name;
}
Index DeviceModel::num_fields() const {
  return impl_->fields;
}
Index DeviceModel::dim() const {
  return impl_->dim;
}
Index DeviceModel::num_dense() const {
  return impl_->num_dense;
}

void DeviceModel::forward(Index batch, const float* dense, const float* embeddings, float* logits) {
  if (batch < 1) throw InvalidArgument("cuda (" + impl_->name + " model): empty batch");
  impl_->batch = batch;
  impl_->forward(dense, embeddings, logits);
}

void DeviceModel::backward(const float* dlogits, float* dE) {
  if (impl_->batch < 1) {
    throw std::logic_error("cuda (" + impl_->name + " model): backward before forward");
  }
  impl_->backward(dlogits, dE);
}

void DeviceModel::check_gradients() const {
  fill_device(impl_->first_bad.data(), 0xff, sizeof(unsigned long long));
  Index base = 0;
  for (const DenseParameter& p : impl_->parameters) {
    launch(p.size(), detail::first_non_finite_kernel, p.gradient.data(), p.size(), base,
           impl_->first_bad.data());
    base += p.size();
  }
  const unsigned long long first = impl_->first_bad.to_host()[0];
  if (first == detail::kNone) return;
  auto index = static_cast<Index>(first);
  for (const DenseParameter& p : impl_->parameters) {
    if (index < p.size()) {
      throw NonFiniteGradient("cuda (" + impl_->name + " model): the gradient of '" + p.name +
                              "' holds a NaN or Inf at element " + std::to_string(index) +
                              "; the step was refused and nothing was changed");
    }
    index -= p.size();
  }
}

namespace {

/// The state of `p` for `optimizer` (zero where there is none; row-wise Adagrad steps a dense
/// parameter by element, as the CPU: every element a "row").
void ensure_dense_state(DenseParameter& p, const DeviceOptimizer& optimizer,
                        const std::string& model) {
  const auto elements = static_cast<std::size_t>(p.size());
  ensure_optimizer_state(p.state, p.state_slots, elements, optimizer,
                         "cuda (" + model + " model): '" + p.name + "'", elements);
}

}  // namespace

void DeviceModel::step(const DeviceOptimizer& optimizer, std::uint64_t step) {
  for (DenseParameter& p : impl_->parameters) ensure_dense_state(p, optimizer, impl_->name);
  for (DenseParameter& p : impl_->parameters) {
    const float lr = optimizer.learning_rate * p.lr_scale;
    detail::with_any_rule(optimizer, [&](const auto& rule) {
      launch(p.size(), detail::dense_update_kernel<std::decay_t<decltype(rule)>>, p.values.data(),
             p.gradient.data(), p.state.data(), p.size(), p.width, rule,
             rule.coefficients(lr, step));
    });
  }
}

void DeviceModel::state_from_host(const std::string& name, std::span<const float> values,
                                  const DeviceOptimizer& optimizer) {
  DenseParameter& target = impl_->at(name);
  const std::size_t expected = static_cast<std::size_t>(optimizer.slots() * target.size());
  if (values.size() != expected) {
    throw InvalidArgument("cuda (" + impl_->name + " model): the optimizer state of '" + name +
                          "' has " + std::to_string(expected) + " values, " +
                          std::to_string(values.size()) + " were given");
  }
  for (DenseParameter& p : impl_->parameters) ensure_dense_state(p, optimizer, impl_->name);
  if (expected > 0) target.state.upload(values);
}

std::vector<std::string> DeviceModel::parameter_names() const {
  std::vector<std::string> names;
  for (const DenseParameter& p : impl_->parameters) names.push_back(p.name);
  return names;
}

std::size_t DeviceModel::parameter_size(const std::string& name) const {
  return static_cast<std::size_t>(impl_->at(name).size());
}

std::vector<float> DeviceModel::values_to_host(const std::string& name) const {
  return impl_->at(name).values.to_host();
}
std::vector<float> DeviceModel::gradient_to_host(const std::string& name) const {
  return impl_->at(name).gradient.to_host();
}
std::vector<float> DeviceModel::state_to_host(const std::string& name) const {
  return impl_->at(name).state.to_host();
}
void DeviceModel::values_from_host(const std::string& name, const float* values) {
  DenseParameter& p = impl_->at(name);
  p.values.upload({values, static_cast<std::size_t>(p.size())});
}

double DeviceModel::loss(const float* logits, const float* labels, float* dlogits) {
  const Index batch = impl_->batch;
  impl_->losses.reserve(static_cast<std::size_t>(batch));
  launch(batch, detail::bce_kernel, logits, labels, batch, 1.0f / static_cast<float>(batch),
         impl_->losses.data(), dlogits);
  std::vector<float> losses(static_cast<std::size_t>(batch));
  copy_to_host(losses.data(), impl_->losses.data(), losses.size() * sizeof(float));
  double sum = 0.0;
  for (const float l : losses) sum += l;
  return sum / static_cast<double>(batch);
}

std::size_t DeviceModel::device_bytes() const {
  std::size_t total = impl_->activation_bytes() + impl_->losses.size() * sizeof(float);
  for (const DenseParameter& p : impl_->parameters) {
    total += (p.values.size() + p.gradient.size() + p.state.size()) * sizeof(float);
  }
  return total;
}

}  // namespace embcomp::cuda
