// The trainer on the device (TrainerConfig::backend = cuda::device_backend()): the device twins
// of the table (cuda::mirror) and of the model (cuda::DeviceModel) run every training step and
// every validation evaluation; the trainer keeps its schedule and the host objects, which the
// backend brings up to date when they are read (train/step_backend.hpp).
//
// A step: the batch's ids, dense features and labels copied to the device once; the table's
// lookup, the model's forward (matrix products through cuBLAS), the loss (the per-sample losses
// read back, 4 bytes a sample), the model's backward to dE; then the model's gradients checked
// (one read back), the table's fused backward and optimizer step (which checks dE and the ids),
// the model's step; a NaN or Inf anywhere changes nothing. Adam's t is the host optimizer's step
// count, carried over when a twin is made mid-run, and so is every parameter's optimizer state.
//
// A stage that feeds validation batches to the table (autosrh's search) hands each batch's dE to
// the twin on the device (the lookup, the model's forward and backward, its gradients unused),
// where the twin takes them; otherwise it is refused by the stage's name. The table's auxiliary
// loss (optembed's regulariser, dpq's and mgqe's) is the twin's.
// Not on the device: a stage's own work in begin_stage (it runs on the host objects, then the
// twin is made again: optembed's search, autosrh's fold and mask) and the test evaluation (on the
// host's finalized table, its serving form).
#pragma once

#include "embcomp/train/step_backend.hpp"

namespace embcomp::cuda {

/// The factory of the device backend (in the host-shim build, embcomp_cuda_host, the same code
/// with its kernels run on the CPU: the tests' backend). InvalidArgument in a CUDA build on a
/// machine without a GPU; the backend's first load_from_host throws InvalidArgument naming the
/// method or model without a twin.
StepBackendFactory device_backend();

}  // namespace embcomp::cuda
