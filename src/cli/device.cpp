#include "device.hpp"

#include "embcomp/core/error.hpp"
#if defined(EMBCOMP_WITH_CUDA)
#include "embcomp/cuda/device_backend.hpp"
#endif

namespace embcomp::cli {

StepBackendFactory backend_for(const std::string& device) {
  if (device == "cpu") return {};
  if (device != "cuda") throw InvalidArgument("--device: '" + device + "' is not cpu or cuda");
#if defined(EMBCOMP_WITH_CUDA)
  return cuda::device_backend();
#else
  throw InvalidArgument(
      "--device cuda: this build has no CUDA backend; configure it with -DEMBCOMP_CUDA=ON "
      "(docs/cuda.md)");
#endif
}

}  // namespace embcomp::cli
