#include "embcomp/models/factory.hpp"

#include <string>

#include "embcomp/models/dcn.hpp"
#include "embcomp/models/dlrm.hpp"
#include "embcomp/models/wdl.hpp"

namespace embcomp {

std::unique_ptr<Model> make_model(std::string_view name, const ModelArgs& args) {
  if (name == "dlrm") return std::make_unique<Dlrm>(args);
  if (name == "wdl") return std::make_unique<Wdl>(args);
  if (name == "dcn") return std::make_unique<Dcn>(args);
  throw InvalidArgument("make_model: unknown model '" + std::string(name) +
                        "'; known models are dlrm, wdl, dcn");
}

}  // namespace embcomp
