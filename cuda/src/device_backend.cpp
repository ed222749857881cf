// cuda::device_backend (cuda/include/embcomp/cuda/device_backend.hpp): the trainer's steps on
// the device twins. Plain C++, compiled by the host compiler in both builds.
#include "embcomp/cuda/device_backend.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/cuda/device_model.hpp"
#include "embcomp/cuda/device_table.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/optim/optimizer.hpp"
#include "embcomp/table.hpp"

namespace embcomp::cuda {
namespace {

/// A batch on the device: ids [B x F], dense features [B x Dd] and labels [B], copied once.
struct DeviceBatch {
  DeviceArray<Index> ids;
  DeviceArray<float> dense;
  DeviceArray<float> labels;
  Index size = 0;
  Index fields = 0;

  void upload(const Batch& batch, bool with_labels) {
    size = batch.size;
    fields = batch.num_fields;
    ids.reserve(batch.ids.size());
    dense.reserve(batch.dense.size());
    copy_to_device(ids.data(), batch.ids.data(), batch.ids.size() * sizeof(Index));
    copy_to_device(dense.data(), batch.dense.data(), batch.dense.size() * sizeof(float));
    if (with_labels) {
      labels.reserve(batch.labels.size());
      copy_to_device(labels.data(), batch.labels.data(), batch.labels.size() * sizeof(float));
    }
  }
  DeviceIds device_ids() const { return {ids.data(), size, fields}; }
};

class DeviceBackend : public StepBackend {
 public:
  explicit DeviceBackend(const TrainingObjects& objects)
      : table_(objects.table),
        model_(objects.model),
        optimizer_(objects.optimizer),
        rule_(DeviceOptimizer::of(objects.optimizer)) {}

  std::string name() const override { return device_description(); }

  void load_from_host(const Stage& stage) override {
    // The host's values changed (or are the state); its optimizer state may be stale: the
    // twins' state goes there first, to be carried into the new twins.
    if (table_twin_ && !state_on_host_) store_optimizer_state();
    std::unique_ptr<DeviceTable> table = mirror(table_);
    if (stage.uses_validation && !table->takes_validation_batches()) {
      throw InvalidArgument("cuda: stage '" + stage.name + "' of " + table_.spec() +
                            " feeds validation batches to the table; its twin takes none");
    }
    for (const Parameter* p : std::as_const(table_).parameters()) {
      if (const std::vector<float>* state = optimizer_.state(*p);
          state != nullptr && !state->empty()) {
        table->state_from_host(p->name(), *state, rule_);
      }
    }
    table->set_steps(optimizer_.steps());
    // A fresh twin of the model too: its state is then exactly the host's (none where a stage
    // reset the optimizer).
    model_twin_ = DeviceModel::mirror(model_);
    for (const Parameter* p : model_.parameters()) {
      if (const std::vector<float>* state = optimizer_.state(*p);
          state != nullptr && !state->empty()) {
        model_twin_->state_from_host(p->name(), *state, rule_);
      }
    }
    table_twin_ = std::move(table);
    values_on_host_ = state_on_host_ = true;
  }

  void store_to_host(bool with_optimizer_state) override {
    if (!table_twin_) return;  // nothing loaded: the host is the state
    if (!values_on_host_) {
      table_twin_->copy_rows_to(table_);
      model_twin_->copy_parameters_to(model_);
      values_on_host_ = true;
    }
    if (with_optimizer_state && !state_on_host_) {
      store_optimizer_state();
      state_on_host_ = true;
    }
  }

  double forward_backward(const Batch& batch) override {
    embed(batch, /*training=*/true);
    model_twin_->forward(batch.size, batch_.dense.data(), embeddings_.data(), logits_.data());
    const double loss = model_twin_->loss(logits_.data(), batch_.labels.data(), dlogits_.data());
    model_twin_->backward(dlogits_.data(), dE_.data());
    return loss + table_twin_->auxiliary_loss();
  }

  void apply_step(bool train_model) override {
    // Every check runs before anything is written: the model's gradients here, the ids and dE in
    // the table's step (which refuses them with its rows and state unchanged).
    if (train_model) model_twin_->check_gradients();
    table_twin_->train_step(batch_.device_ids(), dE_.data(), rule_);
    if (train_model) model_twin_->step(rule_, table_twin_->steps());
    values_on_host_ = state_on_host_ = false;
  }

  void after_step(const StepContext& ctx) override {
    table_twin_->after_step(ctx);
    values_on_host_ = false;
  }

  void validation_batch(const Batch& batch) override {
    // As the CPU backend: the table's lookup, the model's forward and backward (its gradients
    // are not applied), then the table takes dE.
    embed(batch, /*training=*/false);
    model_twin_->forward(batch.size, batch_.dense.data(), embeddings_.data(), logits_.data());
    model_twin_->loss(logits_.data(), batch_.labels.data(), dlogits_.data());
    model_twin_->backward(dlogits_.data(), dE_.data());
    table_twin_->on_validation_batch(batch_.device_ids(), dE_.data());
    values_on_host_ = false;
  }

  void score(const Batch& batch, std::span<float> logits) override {
    batch_.upload(batch, /*with_labels=*/false);
    const auto positions = static_cast<std::size_t>(batch.size * batch.num_fields);
    embeddings_.reserve(positions * static_cast<std::size_t>(table_twin_->dim()));
    logits_.reserve(static_cast<std::size_t>(batch.size));
    table_twin_->lookup(batch_.device_ids(), embeddings_.data());
    model_twin_->forward(batch.size, batch_.dense.data(), embeddings_.data(), logits_.data());
    copy_to_host(logits.data(), logits_.data(), logits.size_bytes());
  }

 private:
  /// Uploads `batch` (with its labels) and looks it up into embeddings_: the table's training
  /// forward, or its lookup; sizes the step's buffers.
  void embed(const Batch& batch, bool training) {
    batch_.upload(batch, /*with_labels=*/true);
    const auto positions = static_cast<std::size_t>(batch.size * batch.num_fields);
    const auto d = static_cast<std::size_t>(table_twin_->dim());
    embeddings_.reserve(positions * d);
    dE_.reserve(positions * d);
    logits_.reserve(static_cast<std::size_t>(batch.size));
    dlogits_.reserve(static_cast<std::size_t>(batch.size));
    if (training) {
      table_twin_->forward(batch_.device_ids(), embeddings_.data());
    } else {
      table_twin_->lookup(batch_.device_ids(), embeddings_.data());
    }
  }

  /// The twins' optimizer state and step count become the host optimizer's (all of it: the
  /// table's parameters, then the model's).
  void store_optimizer_state() {
    Optimizer::StagedState staged;
    staged.steps = table_twin_->steps();
    std::vector<Parameter*> params;
    auto add = [&](Parameter* p, std::vector<float> values) {
      const std::size_t units = optimizer_.state_units(*p);
      if (!values.empty() &&
          values.size() != units * static_cast<std::size_t>(optimizer_.slots())) {
        throw std::logic_error(
            "cuda: the device state of '" + p->name() + "' has " + std::to_string(values.size()) +
            " values, the host's layout " +
            std::to_string(units * static_cast<std::size_t>(optimizer_.slots())));
      }
      staged.entries.push_back({p->name(), units, std::move(values)});
      params.push_back(p);
    };
    for (Parameter* p : table_.parameters()) {
      if (p->optimized()) add(p, table_twin_->state_to_host(p->name()));
    }
    for (Parameter* p : model_.parameters()) add(p, model_twin_->state_to_host(p->name()));
    optimizer_.adopt_state(std::move(staged), params);
  }

  EmbeddingTable& table_;
  Model& model_;
  Optimizer& optimizer_;
  DeviceOptimizer rule_;
  std::unique_ptr<DeviceTable> table_twin_;
  std::unique_ptr<DeviceModel> model_twin_;
  bool values_on_host_ = true;  ///< the host table and model hold the twins' values
  bool state_on_host_ = true;   ///< the host optimizer holds the twins' state and step count
  DeviceBatch batch_;
  DeviceArray<float> embeddings_, dE_, logits_, dlogits_;
};

}  // namespace

StepBackendFactory device_backend() {
  if (!host_shim() && !device_present()) {
    throw InvalidArgument("cuda: no CUDA device is present; train on the CPU instead");
  }
  return [](const TrainingObjects& objects) -> std::unique_ptr<StepBackend> {
    return std::make_unique<DeviceBackend>(objects);
  };
}

}  // namespace embcomp::cuda
