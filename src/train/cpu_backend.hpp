// The CPU backend of the trainer (train/step_backend.hpp): the host table, model and optimizer
// themselves, and the scoring of a batch that the trainer's evaluate() shares with it.
#pragma once

#include <span>
#include <vector>

#include "embcomp/core/gradients.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/optim/optimizer.hpp"
#include "embcomp/table.hpp"
#include "embcomp/train/step_backend.hpp"

namespace embcomp {

/// logits [B] of `batch`: the table's lookup into `embeddings` (resized), then the model.
void score_on_host(const EmbeddingTable& table, Model& model, const Batch& batch,
                   std::vector<float>& embeddings, std::span<float> logits);

class CpuBackend : public StepBackend {
 public:
  explicit CpuBackend(const TrainingObjects& objects)
      : table_(objects.table), model_(objects.model), optimizer_(objects.optimizer) {}

  std::string name() const override { return "cpu"; }
  void load_from_host(const Stage& /*stage*/) override {}
  void store_to_host(bool /*with_optimizer_state*/) override {}
  double forward_backward(const Batch& batch) override {
    return forward_backward(batch, &table_grads_, model_grads_) + table_.auxiliary_loss();
  }
  void apply_step(bool train_model) override {
    if (train_model) {
      optimizer_.step({&table_grads_, &model_grads_});
    } else {
      optimizer_.step({&table_grads_});  // the dense model is frozen in this stage
    }
  }
  void after_step(const StepContext& ctx) override { table_.after_step(ctx); }
  void validation_batch(const Batch& batch) override;
  void score(const Batch& batch, std::span<float> logits) override {
    score_on_host(table_, model_, batch, embeddings_, logits);
  }

 private:
  /// One forward/backward pass of `b`: model gradients into `mg`, dE, and with `tg` the
  /// table's gradients (a training step: the table's training forward) or without (a
  /// validation batch: the table's eval-mode lookup); returns the batch's loss.
  double forward_backward(const Batch& b, Gradients* tg, Gradients& mg);

  EmbeddingTable& table_;
  Model& model_;
  Optimizer& optimizer_;
  std::vector<float> embeddings_, dE_, logits_, dlogits_;
  Gradients table_grads_, model_grads_, scratch_model_grads_;
};

}  // namespace embcomp
