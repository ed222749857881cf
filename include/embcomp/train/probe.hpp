// The linear probe: trains a table on its own, without a model, on the planted click task
// (data/planted.hpp), through every stage the method declares. For examples, the demo and the
// conformance suite; the Trainer (train/trainer.hpp) is the real loop with a model.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "embcomp/data/planted.hpp"
#include "embcomp/optim/optimizer.hpp"
#include "embcomp/table.hpp"
#include "embcomp/train/metrics.hpp"

namespace embcomp {

struct ProbeResult {
  double auc = 0.0;      ///< held-out AUC
  double logloss = 0.0;  ///< held-out logloss
};

/// Trains `table` as the embedding layer of the linear probe logit = sum of all entries of a
/// sample's [F x d] embeddings, then finalizes it and evaluates on the held-out set of `task`.
/// Every stage runs stage.length(1, steps) steps (`steps` is the probe's epoch) of
/// forward -> backward -> optimizer step -> after_step (-> a validation batch's dE, in stages
/// that use validation, as the trainer feeds it), after begin_stage (whose validate()
/// scores the held-out set) and the optimizer forgetting the state of reshaped parameters.
/// No best-state choice: the probe keeps the last state. As the trainer validates 10 times an
/// epoch, after_step is told that an evaluation follows 10 times a stage (and after its last
/// step), so that methods measuring then (pep's sparsity) do so here too.
class LinearProbe {
 public:
  static constexpr Index kChecksPerStage = 10;

  LinearProbe(const PlantedTask& task, Index batch) : task_(task), batch_(batch) {}

  ProbeResult train(EmbeddingTable& table, Optimizer& optimizer, Index steps) {
    const std::vector<Stage> stages = table.stages();
    std::uint64_t step = 0, batch_index = 0, validation_index = 0;
    for (std::size_t s = 0; s < stages.size(); ++s) {
      const Index length = stages[s].length(1.0, steps);
      StageContext ctx{&optimizer, length, [&] { return evaluate(table).auc; }};
      table.begin_stage(s, ctx);
      optimizer.keep_only(std::as_const(table).parameters());
      const Index check_every = std::max<Index>(1, length / kChecksPerStage);
      for (Index i = 0; i < length; ++i) {
        train_step(table, optimizer, batch_index++);
        const bool check = (i + 1) % check_every == 0 || i + 1 == length;
        table.after_step(StepContext{++step, s, 0.0, &optimizer, i + 1, length, check});
        if (stages[s].uses_validation) feed_validation_batch(table, validation_index++);
        if (table.stage_done()) break;
      }
    }
    table.finalize();
    return evaluate(table);
  }

  /// Held-out AUC and logloss of the probe with `table` as it is.
  ProbeResult evaluate(const EmbeddingTable& table) {
    std::vector<float> probabilities, truth;
    for (std::uint64_t k = 0; k < PlantedTask::kHeldOutBatches; ++k) {
      task_.sample(batch_, PlantedTask::kHeldOutFirst + k, ids_, labels_);
      table.lookup(id_batch(table), output(table));
      for (Index b = 0; b < batch_; ++b) probabilities.push_back(probability(table, b));
      truth.insert(truth.end(), labels_.begin(), labels_.end());
    }
    return {exact_auc(probabilities, truth), logloss(probabilities, truth)};
  }

 private:
  /// Batch `index` of the task: forward, BCE gradient of the probe, backward, optimizer step.
  void train_step(EmbeddingTable& table, Optimizer& optimizer, std::uint64_t index) {
    forward_with_gradient(table, index);
    table.backward(id_batch(table), {dE_.data(), batch_ * table.schema().num_fields(), table.dim()},
                   grads_);
    optimizer.step(grads_);
  }

  /// For stages that use validation: batch `index` of the validation stream (apart from the
  /// training and held-out batches), looked up in eval mode, its dE given to the table as the
  /// trainer gives it.
  void feed_validation_batch(EmbeddingTable& table, std::uint64_t index) {
    forward_with_gradient(table, kValidationFirst + index, /*training=*/false);
    table.on_validation_batch(id_batch(table),
                              {dE_.data(), batch_ * table.schema().num_fields(), table.dim()});
  }

  /// Batch `index` of the task through forward (lookup, eval mode, unless `training`), and dE
  /// of the probe's BCE loss into dE_.
  void forward_with_gradient(EmbeddingTable& table, std::uint64_t index, bool training = true) {
    task_.sample(batch_, index, ids_, labels_);
    if (training) {
      table.forward(id_batch(table), output(table));
    } else {
      table.lookup(id_batch(table), output(table));
    }
    const Index per_sample = table.schema().num_fields() * table.dim();
    dE_.resize(emb_.size());
    for (Index b = 0; b < batch_; ++b) {
      const float g = (probability(table, b) - labels_[b]) / static_cast<float>(batch_);
      std::fill_n(dE_.data() + b * per_sample, per_sample, g);
    }
  }

  /// The validation stream's first batch index: training batches (from 0) never reach it, and
  /// it ends long before the held-out set's.
  static constexpr std::uint64_t kValidationFirst = PlantedTask::kHeldOutFirst >> 1;

  IdBatch id_batch(const EmbeddingTable& table) const {
    return {ids_.data(), batch_, table.schema().num_fields()};
  }
  Matrix output(const EmbeddingTable& table) {
    const Index positions = batch_ * table.schema().num_fields();
    emb_.resize(static_cast<std::size_t>(positions * table.dim()));
    return {emb_.data(), positions, table.dim()};
  }
  float probability(const EmbeddingTable& table, Index b) const {
    const Index per_sample = table.schema().num_fields() * table.dim();
    float z = 0.0f;
    for (Index i = 0; i < per_sample; ++i) z += emb_[static_cast<std::size_t>(b * per_sample + i)];
    return 1.0f / (1.0f + std::exp(-z));
  }

  const PlantedTask& task_;
  Index batch_;
  std::vector<Index> ids_;
  std::vector<float> labels_, emb_, dE_;
  Gradients grads_;
};

/// LinearProbe(task, batch).train(table, optimizer, steps).
inline ProbeResult train_linear_probe(EmbeddingTable& table, Optimizer& optimizer,
                                      const PlantedTask& task, Index steps, Index batch) {
  return LinearProbe(task, batch).train(table, optimizer, steps);
}

}  // namespace embcomp
