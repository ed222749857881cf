// Training stages a method declares (warm-up -> search -> retrain ...) and the per-step context.
#pragma once

#include <cstdint>
#include <string>

namespace embcomp {

class Optimizer;

/// One stage of a method's training. The trainer runs stages in order.
struct Stage {
  std::string name = "train";
  bool reset_model = false;          ///< re-initialise the dense model before this stage
  bool reset_optimizer = false;      ///< drop optimizer state before this stage
  bool uses_validation = false;      ///< the stage feeds validation batches to the table
  double epochs = 1.0;               ///< length, as a multiple of the trainer's epoch setting
};

/// What after_step() learns about the step that just finished.
struct StepContext {
  std::uint64_t step = 0;    ///< global optimizer step, counted from 1
  std::size_t stage = 0;     ///< index into stages()
  double epoch = 0.0;        ///< fractional epoch within the stage
  /// The optimizer that took the step, for methods that move rows and their optimizer state
  /// (CAFE's promotion); null when the caller has none to offer.
  Optimizer* optimizer = nullptr;
};

}  // namespace embcomp
