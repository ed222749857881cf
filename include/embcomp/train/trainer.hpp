// Trainer: runs the training loop of DESIGN.md over a BatchSource, an EmbeddingTable and a Model.
//
// One step (no allocation once the buffers are warm):
//   source.read(train, ...)  -> table.lookup -> model.forward -> BCE -> model.backward (dE)
//   -> table.backward(ids, dE) -> optimizer.step({&table_grads, &model_grads})
//   -> table.after_step(ctx)
//
// Schedule, per stage of table.stages() (Stage::epochs multiplies TrainerConfig::epochs):
//   steps per epoch = floor(train rows / batch size) (drop_last, as the reference); the train
//   part is read in order, wrapping around, with no shuffle (it was permuted once at prep).
//   Every ceil(steps per epoch / evaluations_per_epoch) steps, and after the stage's last step,
//   the validation part (or its first max_validation_rows) is evaluated: exact AUC and logloss,
//   with the model in evaluation mode.
//   The best validation AUC of the stage is kept in memory (the table's state and the model's
//   parameters) and the stage stops early after `patience` evaluations without improvement.
//   At the end of each stage its best state is restored (the next stage starts from it).
// Test: evaluated once, after the last stage, on the restored best state. Choices use
// validation only; test never influences them.
// Checkpoints (train/checkpoint.hpp): with TrainerConfig::checkpoint_path, everything the loop
// carries (table, model, optimizer state, step, stage, position, running loss, patience, the
// best state) is written after every evaluation; TrainerConfig::resume_from continues from such
// a file, bit-identically to an uninterrupted run with the same seed and thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embcomp/core/memory.hpp"
#include "embcomp/data/source.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/optim/optimizer.hpp"
#include "embcomp/table.hpp"
#include "embcomp/train/step_backend.hpp"

namespace embcomp {

/// The optimizer named "sgd", "adagrad", "adam" or "rowwise_adagrad" (with each one's default
/// epsilon and betas); any other name throws InvalidArgument.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float learning_rate);

/// One evaluation of the validation part during training.
struct Evaluation {
  std::uint64_t step = 0;           ///< global optimizer steps so far
  std::size_t stage = 0;            ///< index into table.stages()
  double epoch = 0.0;               ///< fractional epoch within the stage
  double train_loss = 0.0;          ///< running mean of the training loss since the last one
  double auc = 0.0;                 ///< validation AUC
  double logloss = 0.0;             ///< validation logloss
  double samples_per_second = 0.0;  ///< training throughput since the last evaluation
  bool improved = false;            ///< a new best of this stage
};

/// Where training stands after one step (for progress bars).
struct StepProgress {
  std::uint64_t step = 0;           ///< global optimizer steps so far
  std::size_t stage = 0;            ///< index into table.stages()
  std::size_t stages = 1;
  Index stage_step = 0;             ///< steps done in this stage
  Index stage_steps = 0;            ///< steps this stage runs unless it stops early
  double train_loss = 0.0;          ///< running mean since the last evaluation
  double samples_per_second = 0.0;  ///< since the last evaluation
};

/// The knobs of benchmark-protocol.md §2; the defaults are the reference's.
struct TrainerConfig {
  Index batch_size = 128;
  double epochs = 0.1;               ///< may be fractional; multiplied by each Stage::epochs
  Index evaluations_per_epoch = 10;
  Index patience = 10;               ///< evaluations without improvement; 0 never stops early
  std::string optimizer = "sgd";     ///< sgd | adagrad | adam | rowwise_adagrad
  float learning_rate = 1e-3f;
  Index eval_batch_size = 4096;      ///< rows per forward pass during evaluation
  std::optional<Index> max_validation_rows;  ///< evaluate only the first rows of validation
  std::optional<Index> max_test_rows;        ///< evaluate only the first rows of test
  /// Read the next training batch on a thread of its own while the current one trains
  /// (data/prefetch.hpp); the source's read must then be safe to call from two threads at
  /// once, as the library's sources' are. Results are the same either way.
  bool prefetch = true;
  std::string metrics_log;           ///< one JSON line per evaluation; empty: none
  /// Called after each evaluation (progress output); may be empty.
  std::function<void(const Evaluation&)> on_evaluation;
  /// Called after each training step (progress bars); may be empty.
  std::function<void(const StepProgress&)> on_step;
  /// Written after every evaluation when not empty: a training checkpoint (train/checkpoint.hpp)
  /// holding everything needed to continue, replaced atomically (written to path + ".tmp",
  /// then renamed).
  std::string checkpoint_path;
  /// When not empty, train() first loads this training checkpoint into the (freshly built,
  /// same spec and seed) table and model and continues the run from it: with the same
  /// configuration, source and thread count, the result and the final parameters are
  /// bit-identical to those of an uninterrupted run. The metrics log is appended to.
  std::string resume_from;
  /// Stop after this many evaluations in total (counted over resumed runs too), right after
  /// the checkpoint of that evaluation is written: train() then returns with
  /// TrainResult::completed false and the table and model in their current (not best) state.
  /// For tests and planned interruptions.
  std::optional<std::size_t> stop_after_evaluations;
  /// Where the steps and the validation evaluations run (train/step_backend.hpp): empty for the
  /// CPU; cuda::device_backend() for the device twins of the table and model (cuda/). The test
  /// evaluation runs on the host's finalized table either way.
  StepBackendFactory backend;

  /// Throws InvalidArgument naming the first invalid field.
  void validate() const;
};

struct SplitMetrics {
  double auc = 0.0;
  double logloss = 0.0;
  Index rows = 0;
};

struct TrainResult {
  double best_validation_auc = 0.0;      ///< of the last stage's restored best state
  double best_validation_logloss = 0.0;
  double test_auc = 0.0;                 ///< on the restored best state, evaluated once
  double test_logloss = 0.0;
  std::uint64_t steps = 0;               ///< optimizer steps over all stages
  std::uint64_t best_step = 0;           ///< global step of the restored best state
  std::size_t evaluations = 0;           ///< validation evaluations over all stages
  bool stopped_early = false;            ///< some stage ended by patience
  bool completed = true;                 ///< false: stop_after_evaluations ended the run
                                         ///< (no test evaluation; test_* are 0)
  std::uint64_t resumed_from_step = 0;   ///< the checkpoint's step when resumed, else 0
  double train_seconds = 0.0;            ///< wall clock of training steps only
  double train_samples_per_second = 0.0;
  MemoryReport memory;                   ///< the table's, with the optimizer's state
  std::size_t model_parameter_bytes = 0;
  std::string backend;                   ///< where the steps ran: "cpu", or the device's name
};

/// AUC and logloss of the model on `part` (its first max_rows rows when given), read in
/// batches of batch_size rows, with the model in evaluation mode (restored afterwards).
/// Throws InvalidArgument when the part is empty or its labels hold one class.
SplitMetrics evaluate(const BatchSource& source, SplitPart part, const EmbeddingTable& table,
                      Model& model, Index batch_size = 4096,
                      std::optional<Index> max_rows = std::nullopt);

class Trainer {
 public:
  explicit Trainer(TrainerConfig config);

  /// Trains `table` and `model` on `source` and leaves them in the best validation state.
  /// A non-finite loss gradient throws NonFiniteGradient naming the step; the metrics log
  /// cannot be opened: InvalidArgument. With resume_from, a checkpoint that cannot be read or
  /// does not match throws CheckpointError before anything is changed; a checkpoint that
  /// cannot be written throws CheckpointError.
  TrainResult train(const BatchSource& source, EmbeddingTable& table, Model& model);

  const TrainerConfig& config() const { return config_; }
  /// The optimizer of the last train() call (null before).
  const Optimizer* optimizer() const { return optimizer_.get(); }

 private:
  TrainerConfig config_;
  std::unique_ptr<Optimizer> optimizer_;
};

}  // namespace embcomp
