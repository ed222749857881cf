// The registry: one line per method, in the order of the docs table.
#include "embcomp/registry.hpp"

#include "embcomp/methods/cafe.hpp"
#include "embcomp/methods/cafe_ml.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/methods/mde.hpp"
#include "embcomp/methods/qr.hpp"
#include "embcomp/methods/quantized.hpp"

namespace embcomp {

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> all = {
      describe<FullTable>(),
      describe<HashTable>(),
      describe<QrTable>(),
      describe<MdeTable>(),
      describe<Int8Table>(),
      describe<Int16Table>(),
      describe<CafeTable>(),
      describe<CafeMlTable>(),
  };
  return all;
}

const MethodInfo& method_info(std::string_view key) {
  for (const auto& m : methods()) {
    if (m.key == key) return m;
  }
  std::string known;
  for (const auto& m : methods()) known += (known.empty() ? "" : ", ") + m.key;
  throw InvalidArgument("unknown method '" + std::string(key) + "'; known methods: " + known);
}

std::unique_ptr<EmbeddingTable> make_table(std::string_view spec, const TableArgs& args) {
  const SpecString parsed = SpecString::parse(spec);
  const MethodInfo& info = method_info(parsed.key);
  const Options options(info.key, info.options, parsed.options);
  auto table = info.make(args, options);
  table->set_spec(options.canonical());
  return table;
}

}  // namespace embcomp
