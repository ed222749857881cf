// The parts of the CUDA backend that read CPU objects (tables, optimizers): plain C++, compiled
// by the host compiler in both builds, so the .cu files need none of the CPU library's headers.
#include <string>

#include "embcomp/cuda/gather_table.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/sgd.hpp"

namespace embcomp::cuda {
namespace {

/// The table's "rows" parameter, which must be fp32 [rows x width] for a device copy.
const Parameter& rows_parameter(const EmbeddingTable& table, const std::string& method) {
  for (const Parameter* p : table.parameters()) {
    if (p->name() == "rows") {
      if (!p->is_fp32()) {
        throw InvalidArgument("cuda: method '" + method + "' stores quantized rows; the CUDA "
                              "backend has no table for them yet (it has full and hash)");
      }
      return *p;
    }
  }
  throw InvalidArgument("cuda: method '" + method + "' has no 'rows' parameter");
}

std::string method_of(const EmbeddingTable& table, const char* fallback) {
  const std::string& spec = table.spec();
  return spec.empty() ? fallback : spec.substr(0, spec.find(':'));
}

}  // namespace

GatherTable GatherTable::mirror(const EmbeddingTable& table) {
  std::vector<kernels::FieldRows> fields;
  std::string method;
  if (const auto* hash = dynamic_cast<const HashTable*>(&table)) {
    fields = hash->field_rows();
    method = method_of(table, HashTable::kKey);
  } else if (const auto* full = dynamic_cast<const FullTable*>(&table)) {
    fields = full->field_rows();
    method = method_of(table, FullTable::kKey);
  } else {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' has no CUDA table yet; the CUDA backend has full and hash");
  }
  const Parameter& rows = rows_parameter(table, method);
  return GatherTable(method, std::move(fields), table.schema().cardinalities, rows.rows(),
                     rows.width(), rows.data(), rows.lr_scale());
}

void GatherTable::copy_rows_to(EmbeddingTable& table) const {
  for (Parameter* p : table.parameters()) {
    if (p->name() != "rows") continue;
    if (!p->is_fp32() || p->rows() != rows_ || p->width() != width_) {
      throw InvalidArgument("cuda: cannot copy " + std::to_string(rows_) + " x " +
                            std::to_string(width_) + " device rows into '" + table.spec() +
                            "', whose rows are " + std::to_string(p->rows()) + " x " +
                            std::to_string(p->width()));
    }
    table_.download(p->data());
    return;
  }
  throw InvalidArgument("cuda: '" + table.spec() + "' has no 'rows' parameter");
}

DeviceOptimizer DeviceOptimizer::of(const Optimizer& optimizer) {
  DeviceOptimizer device;
  device.learning_rate = optimizer.learning_rate();
  if (dynamic_cast<const Sgd*>(&optimizer) != nullptr) {
    device.kind = Kind::sgd;
  } else if (const auto* adagrad = dynamic_cast<const Adagrad*>(&optimizer)) {
    device.kind = Kind::adagrad;
    device.adagrad = adagrad->rule();
  } else if (const auto* adam = dynamic_cast<const Adam*>(&optimizer)) {
    device.kind = Kind::adam;
    device.adam = adam->rule();
  } else {
    throw InvalidArgument("cuda: optimizer '" + optimizer.name() +
                          "' has no device form (sgd, adagrad and adam have)");
  }
  return device;
}

}  // namespace embcomp::cuda
