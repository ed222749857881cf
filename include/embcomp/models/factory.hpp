// make_model: a CTR model by name.
//
// Compiled once in src/models/factory.cpp: a file that builds models by name does not parse
// the three models and their layers or compile their code (about 9 s of g++ -O3 per file).
// Include models/dlrm.hpp (wdl.hpp, dcn.hpp) to use a model's class itself.
#pragma once

#include <memory>
#include <string_view>

#include "embcomp/models/model.hpp"

namespace embcomp {

/// "dlrm", "wdl" or "dcn" built from `args`; any other name throws InvalidArgument.
std::unique_ptr<Model> make_model(std::string_view name, const ModelArgs& args);

}  // namespace embcomp
