// The parts of DeviceModel that read the CPU model: plain C++, compiled by the host compiler in
// both builds, so that device_model.cu needs none of the CPU model's headers.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/cuda/device_model.hpp"
#include "embcomp/models/model.hpp"

namespace embcomp::cuda {
namespace {

/// `model`'s parameter named `name`, InvalidArgument where it has none of that shape.
Parameter& matching_parameter(Model& model, const std::string& name, std::size_t size) {
  for (Parameter* p : model.parameters()) {
    if (p->name() != name) continue;
    if (p->size() != size) {
      throw InvalidArgument("cuda: model parameter '" + name + "' has " +
                            std::to_string(p->size()) + " values, its device twin " +
                            std::to_string(size));
    }
    return *p;
  }
  throw InvalidArgument("cuda: model '" + model.name() + "' has no parameter '" + name + "'");
}

}  // namespace

std::unique_ptr<DeviceModel> DeviceModel::mirror(Model& model) {
  HostModel host;
  host.name = model.name();
  host.fields = model.args().num_fields;
  host.dim = model.args().dim;
  host.num_dense = model.args().num_dense;
  for (const Parameter* p : model.parameters()) {
    if (!p->is_fp32() || !p->optimized()) {
      throw InvalidArgument(
          "cuda: model parameter '" + p->name() +
          "' is not a trained fp32 parameter; the device model has no form of it");
    }
    host.parameters.push_back({p->name(), p->rows(), p->width(), p->lr_scale(), p->data()});
  }
  if (!model.buffers().empty()) {
    throw InvalidArgument("cuda: model '" + model.name() +
                          "' keeps buffers (batch statistics), which the device model does not");
  }
  return build(host);
}

void DeviceModel::copy_parameters_to(Model& model) const {
  // Every parameter is checked before any is written.
  std::vector<std::pair<Parameter*, std::vector<float>>> values;
  for (const std::string& name : parameter_names()) {
    std::vector<float> v = values_to_host(name);
    values.emplace_back(&matching_parameter(model, name, v.size()), std::move(v));
  }
  for (auto& [param, v] : values) std::copy(v.begin(), v.end(), param->data());
}

}  // namespace embcomp::cuda
