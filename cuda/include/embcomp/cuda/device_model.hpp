// The dense model on the device: the twin of a CPU Model (DLRM, WDL, DCN) with its parameters
// in device memory, its matrix products through cuBLAS, and its other layers (bias, ReLU, the
// dot interaction, the cross layers, concatenation) as kernels written against the host shim, so
// that CI tests them on a CPU against the CPU model.
//
//   dense   [B x Dd] floats on the device (the batch's dense features)
//   E       [B*F x d] floats on the device (the table's lookup, row b*F + f)
//   logits  [B] floats on the device
//   dE      [B*F x d] floats on the device, dLoss/dE
//
// Parameters are found by the CPU model's names ("top.0.weight", "cross.1.bias", ...), so the
// twin reads exactly the CPU model's layers; its optimizer state is the CPU optimizer's layout
// for a dense parameter ([rows x slots*width]) and every rule is the CPU's (optim_rules.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/cuda/device_table.hpp"

namespace embcomp {
class Model;
class Optimizer;
}  // namespace embcomp

namespace embcomp::cuda {

class DeviceModel {
 public:
  /// The twin of `model` (its name(): dlrm, wdl or dcn), its parameters copied to the device.
  /// InvalidArgument for another model, or one whose layers the twin does not have.
  static std::unique_ptr<DeviceModel> mirror(Model& model);

  /// One parameter of a CPU model in host memory: [rows x width] floats and its learning-rate
  /// scale.
  struct HostParameter {
    std::string name;
    Index rows = 0;
    Index width = 0;
    float lr_scale = 1.0f;
    const float* values = nullptr;
  };
  /// A CPU model as mirror reads it: its name, shape and parameters (in its order).
  struct HostModel {
    std::string name;
    Index fields = 0;
    Index dim = 0;
    Index num_dense = 0;
    std::vector<HostParameter> parameters;
  };
  /// The twin of the model `host` describes (what mirror does, without the CPU model's headers).
  static std::unique_ptr<DeviceModel> build(const HostModel& host);
  ~DeviceModel();
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  /// The CPU model's name() and shape.
  const std::string& name() const;
  Index num_fields() const;
  Index dim() const;
  Index num_dense() const;

  /// logits [B] of dense [B x Dd] and E [B*F x d] (device pointers). Keeps views of both for
  /// backward: they must stay unchanged until it has run.
  void forward(Index batch, const float* dense, const float* embeddings, float* logits);
  /// From dlogits [B] (device) of the last forward: every parameter's gradient (kept until the
  /// next backward) and dE [B*F x d] (device).
  void backward(const float* dlogits, float* dE);
  /// NonFiniteGradient naming the parameter and element of the first NaN or Inf in the last
  /// backward's gradients (read back once); nothing is changed.
  void check_gradients() const;
  /// One optimizer step on the last backward's gradients: the rule of `optimizer` (row-wise
  /// Adagrad: element-wise Adagrad, as the CPU steps dense parameters) at its learning rate
  /// times each parameter's scale; `step` is the optimizer's step count after this step (Adam's
  /// t). The first step allocates zero state unless copy_state_from gave some.
  void step(const DeviceOptimizer& optimizer, std::uint64_t step);

  /// Parameter names, in the CPU model's order.
  std::vector<std::string> parameter_names() const;
  /// Values in parameter `name` (rows x width); InvalidArgument for a name it does not hold.
  std::size_t parameter_size(const std::string& name) const;
  /// Values, last gradient and optimizer state of parameter `name`, copied to the host
  /// ([rows x width]; state [rows x slots*width], empty before the first stateful step).
  /// InvalidArgument for a name the model does not hold.
  std::vector<float> values_to_host(const std::string& name) const;
  std::vector<float> gradient_to_host(const std::string& name) const;
  std::vector<float> state_to_host(const std::string& name) const;
  /// Overwrites its optimizer state with `values` ([rows x slots*width], the CPU optimizer's
  /// layout), allocating every parameter's state for `optimizer` first where there is none.
  /// InvalidArgument, with nothing written, where the size differs.
  void state_from_host(const std::string& name, std::span<const float> values,
                       const DeviceOptimizer& optimizer);

  /// Writes every parameter's values into `model`'s of the same names (the model this one
  /// mirrors). A model whose values changed on the host is mirrored again (the device backend
  /// does so at every load_from_host), which also takes its optimizer state afresh.
  void copy_parameters_to(Model& model) const;

  /// Binary cross-entropy of the last forward's logits [B] (device) against labels [B]
  /// (device): writes dlogits [B] = (sigmoid(z) - y) / B on the device and returns the mean
  /// loss, summed on the host in nn::bce_with_logits's order (the same value for the same
  /// logits).
  double loss(const float* logits, const float* labels, float* dlogits);

  /// Bytes of device memory held: parameters, gradients, state and activations.
  std::size_t device_bytes() const;

  struct Impl;  ///< the layers, parameters and buffers (device_model.cu)

 private:
  explicit DeviceModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embcomp::cuda
