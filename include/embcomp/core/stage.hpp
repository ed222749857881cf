// Training stages a method declares (warm-up -> search -> retrain ...) and what the trainer
// tells the method at a stage's start and after each step. table.hpp states the stage model.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "embcomp/core/types.hpp"

namespace embcomp {

class Optimizer;

/// One stage of a method's training. The trainer runs stages in order.
struct Stage {
  std::string name = "train";
  double epochs = 1.0;           ///< length, as a multiple of the trainer's epoch setting
  /// Fixed length in steps instead of `epochs`: 0 is a stage with no training steps (a pure
  /// search done in begin_stage, e.g. OptEmbed's evolutionary search).
  std::optional<Index> steps;
  bool train_model = true;       ///< false: the dense model is frozen (AutoSrh's search)
  bool reset_model = false;      ///< re-initialise the dense model before this stage
  bool reset_optimizer = false;  ///< drop optimizer state before this stage
  bool uses_validation = false;  ///< the stage feeds validation batches to the table
  bool early_stopping = true;    ///< patience may end the stage

  /// Steps this stage runs for a trainer whose epoch is `steps_per_epoch` steps and whose
  /// epoch setting is `trainer_epochs`: `steps` when set, else at least 1.
  Index length(double trainer_epochs, Index steps_per_epoch) const {
    if (steps) return *steps;
    const auto n = static_cast<Index>(
        std::llround(trainer_epochs * epochs * static_cast<double>(steps_per_epoch)));
    return n < 1 ? 1 : n;
  }
};

/// What begin_stage() is given.
struct StageContext {
  /// The optimizer that will step the table, for methods that carry state across a reshape;
  /// null when the caller has none.
  Optimizer* optimizer = nullptr;
  /// Steps the stage will run (unless it stops early); 0 for a search stage.
  Index stage_steps = 0;
  /// Validation AUC of the table as it is now, with the trainer's model in evaluation mode:
  /// for search stages scoring candidates. Empty outside a trainer.
  std::function<double()> validate;
};

/// What after_step() learns about the step that just finished.
struct StepContext {
  std::uint64_t step = 0;    ///< global optimizer step, counted from 1
  std::size_t stage = 0;     ///< index into stages()
  double epoch = 0.0;        ///< fractional epoch within the stage
  /// The optimizer that took the step, for methods that move rows and their optimizer state
  /// (CAFE's promotion); null when the caller has none to offer.
  Optimizer* optimizer = nullptr;
  Index stage_step = 0;      ///< steps done in this stage, this one included (from 1)
  Index stage_steps = 0;     ///< steps the stage runs unless it stops early
  /// The trainer validates right after this step (and may keep the state as the best): a
  /// method that keeps its budget by periodic pruning prunes now, so that validation sees
  /// the state it would serve.
  bool evaluation_follows = false;
};

}  // namespace embcomp
