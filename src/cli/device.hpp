// --device: where a run's steps go (the trainer's backend, train/step_backend.hpp).
#pragma once

#include <string>

#include "embcomp/train/step_backend.hpp"

namespace embcomp::cli {

/// The trainer backend of --device: empty (the CPU) for "cpu"; for "cuda" the device backend of
/// a build with the CUDA backend, InvalidArgument in a build without it.
StepBackendFactory backend_for(const std::string& device);

}  // namespace embcomp::cli
