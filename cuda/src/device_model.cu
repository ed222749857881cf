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
#include "dense_layers.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/activations.hpp"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// Per sample: its loss softplus(z) - y z and dlogit (sigmoid(z) - y) / B (nn::bce_with_logits).
EMBCOMP_KERNEL void bce_kernel(const float* logits, const float* labels, Index batch,
                               float inv_batch, float* losses, float* dlogits) {
  for (Index b = thread_index(); b < batch; b += thread_count()) {
    losses[b] = kernels::bce_with_logits(logits[b], labels[b]);
    dlogits[b] = kernels::bce_with_logits_derivative(logits[b], labels[b]) * inv_batch;
  }
}

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
    detail::add(deep, wide, batch, logits);
  }

  void backward(const float* dlogits, float* dE) override {
    const float* ddeep = deep_.front().backward(dlogits);
    const float* dwide = wide_.front().backward(dlogits);
    float* dx = input_grad_.resize(batch, input_width());
    detail::add(ddeep, dwide, batch * input_width(), dx);
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
    detail::add(dx0, dx, batch * input_width(), dx0);
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
  detail::check_finite_gradients(impl_->parameters, impl_->first_bad,
                                 "cuda (" + impl_->name + " model)");
}

void DeviceModel::step(const DeviceOptimizer& optimizer, std::uint64_t step) {
  const std::string owner = "cuda (" + impl_->name + " model)";
  for (DenseParameter& p : impl_->parameters) detail::ensure_dense_state(p, optimizer, owner);
  for (DenseParameter& p : impl_->parameters) detail::dense_step(p, optimizer, step);
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
  for (DenseParameter& p : impl_->parameters) {
    detail::ensure_dense_state(p, optimizer, "cuda (" + impl_->name + " model)");
  }
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
