// The parts of the CUDA backend that read CPU objects (tables, optimizers): plain C++, compiled
// by the host compiler in both builds, so the .cu files need none of the CPU library's headers.
#include <xxhash.h>

#include <string>

#include "embcomp/cuda/gather_table.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/sgd.hpp"

namespace embcomp::cuda {
namespace {

/// The table's "rows" parameter.
const Parameter& rows_parameter(const EmbeddingTable& table, const std::string& method) {
  for (const Parameter* p : table.parameters()) {
    if (p->name() == "rows") return *p;
  }
  throw InvalidArgument("cuda: method '" + method + "' has no 'rows' parameter");
}

/// The device form of `param`'s codec; learned step sizes (alpt) have none.
DeviceCodec device_codec(const Parameter& param, const std::string& method) {
  const CodecSpec& spec = param.codec();
  DeviceCodec codec;
  codec.storage = spec.codec == Codec::int8    ? DeviceCodec::Storage::int8
                  : spec.codec == Codec::int16 ? DeviceCodec::Storage::int16
                                               : DeviceCodec::Storage::fp32;
  if (spec.codec == Codec::fp32) return codec;
  if (spec.scale_mode == ScaleMode::learned) {
    throw InvalidArgument("cuda: method '" + method + "' learns its step sizes; the CUDA backend "
                          "has no table for that yet (it has full, int8, int16 and hash)");
  }
  codec.per_row = spec.scale_mode == ScaleMode::per_row;
  codec.scale = spec.scale;
  codec.offset = spec.offset;
  return codec;
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
                          "' has no CUDA table yet; the CUDA backend has full, int8, int16 "
                          "and hash");
  }
  const Parameter& rows = rows_parameter(table, method);
  HostRows host;
  host.rows = rows.rows();
  host.width = rows.width();
  host.values = rows.storage();
  host.codec = device_codec(rows, method);
  if (host.codec.per_row) host.row_scales = rows.row_scales();
  host.lr_scale = rows.lr_scale();
  host.rounding_seed = XXH64(rows.name().data(), rows.name().size(), 0);
  return GatherTable(method, std::move(fields), table.schema().cardinalities, host);
}

void GatherTable::copy_rows_to(EmbeddingTable& table) const {
  for (Parameter* p : table.parameters()) {
    if (p->name() != "rows") continue;
    const DeviceCodec codec = device_codec(*p, table.spec());
    if (codec.storage != codec_.storage || codec.per_row != codec_.per_row ||
        p->rows() != rows_ || p->width() != width_) {
      throw InvalidArgument("cuda: cannot copy " + std::to_string(rows_) + " x " +
                            std::to_string(width_) + " device rows of " +
                            std::to_string(codec_.bits()) + "-bit values into '" + table.spec() +
                            "', whose rows are " + std::to_string(p->rows()) + " x " +
                            std::to_string(p->width()) + " of " +
                            std::to_string(codec.bits()) + " bits");
    }
    values_.download(p->storage(), static_cast<std::size_t>(rows_ * width_) * codec_.value_bytes());
    if (codec_.per_row) row_scales_.download(p->row_scales().data());
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
