// Where the trainer's steps and evaluations run. The trainer (train/trainer.hpp) keeps the
// schedule, the host table, model and optimizer (the checkpoint format, the best state, the
// stages' own work); a backend runs the batches. The CPU backend (the default) works on the host
// objects themselves; a device backend (cuda::device_backend, cuda/) on their device twins, and
// the trainer tells it when the two must agree:
//
//   load_from_host   the host objects changed (the run starts or resumes, a stage began, a best
//                    state was restored): the backend takes them;
//   store_to_host    the host objects are about to be read (a best state kept, a checkpoint, a
//                    stage's own work, the test evaluation): the backend writes its state there.
//
// One training step: forward_backward (loss) -> apply_step (the optimizer) -> after_step.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "embcomp/core/stage.hpp"
#include "embcomp/data/batch.hpp"

namespace embcomp {

class EmbeddingTable;
class Model;
class Optimizer;

/// The objects a backend trains, owned by the caller of Trainer::train.
struct TrainingObjects {
  EmbeddingTable& table;
  Model& model;
  Optimizer& optimizer;
};

class StepBackend {
 public:
  virtual ~StepBackend() = default;

  /// "cpu", or the device's description.
  virtual std::string name() const = 0;
  /// The host table, model and optimizer state (and its step count) become the backend's.
  /// `stage` is the stage in progress: a backend refuses (InvalidArgument) a stage it cannot run.
  virtual void load_from_host(const Stage& stage) = 0;
  /// Writes the parameters into the host table and model; with `with_optimizer_state`, the
  /// optimizer's state and step count too. Nothing to do where nothing changed since.
  virtual void store_to_host(bool with_optimizer_state) = 0;

  /// The training forward and backward of `batch` (the table's gradients and dE, the model's
  /// gradients); returns the batch's mean loss plus the table's auxiliary loss
  /// (EmbeddingTable::auxiliary_loss, taken after the forward and before the step).
  virtual double forward_backward(const Batch& batch) = 0;
  /// The optimizer's step on the last forward_backward's gradients, the model's too when
  /// `train_model`. A NaN or Inf anywhere throws NonFiniteGradient and changes nothing.
  virtual void apply_step(bool train_model) = 0;
  /// The table's work after a step (EmbeddingTable::after_step).
  virtual void after_step(const StepContext& ctx) = 0;
  /// For a stage that uses validation: the dE of one validation batch given to the table
  /// (EmbeddingTable::on_validation_batch).
  virtual void validation_batch(const Batch& batch) = 0;
  /// logits [B] of an evaluation batch (the table's lookup, the model in evaluation mode).
  virtual void score(const Batch& batch, std::span<float> logits) = 0;
};

/// Makes the backend of a run for its objects (TrainerConfig::backend).
using StepBackendFactory = std::function<std::unique_ptr<StepBackend>(const TrainingObjects&)>;

/// The CPU backend: the host objects themselves.
std::unique_ptr<StepBackend> cpu_backend(const TrainingObjects& objects);

}  // namespace embcomp
