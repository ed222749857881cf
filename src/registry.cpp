// The registry: one line per method, in the order of the docs table.
#include "embcomp/registry.hpp"

#include "embcomp/methods/adaembed.hpp"
#include "embcomp/methods/alpt.hpp"
#include "embcomp/methods/autodim.hpp"
#include "embcomp/methods/autosrh.hpp"
#include "embcomp/methods/cafe.hpp"
#include "embcomp/methods/cafe_ml.hpp"
#include "embcomp/methods/dedup.hpp"
#include "embcomp/methods/deeplight.hpp"
#include "embcomp/methods/dhe.hpp"
#include "embcomp/methods/dpq.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/methods/mde.hpp"
#include "embcomp/methods/mgqe.hpp"
#include "embcomp/methods/optembed.hpp"
#include "embcomp/methods/pep.hpp"
#include "embcomp/methods/qr.hpp"
#include "embcomp/methods/quantized.hpp"
#include "embcomp/methods/robe.hpp"
#include "embcomp/methods/tt.hpp"
#include "embcomp/serving/sparse_table.hpp"

namespace embcomp {

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> all = {
      describe<FullTable>(),
      describe<HashTable>(),
      describe<QrTable>(),
      describe<MdeTable>(),
      describe<TtTable>(),
      describe<DheTable>(),
      describe<RobeTable>(),
      describe<Int8Table>(),
      describe<Int16Table>(),
      describe<CafeTable>(),
      describe<CafeMlTable>(),
      describe<DedupTable>(),
      describe<DeepLightTable>(),
      describe<PepTable>(),
      describe<AutoSrhTable>(),
      describe<AutoDimTable>(),
      describe<OptEmbedTable>(),
      describe<DpqTable>(),
      describe<MgqeTable>(),
      describe<AlptTable>(),
      describe<AdaEmbedTable>(),
  };
  return all;
}

const std::vector<MethodInfo>& serving_forms() {
  static const std::vector<MethodInfo> all = {
      describe<SparseServingTable>(),
      describe<RemappedServingTable>(),
      describe<ProjectedServingTable>(),
      describe<KeptRowsServingTable>(),
      describe<PqServingTable>(),
      describe<GroupedPqServingTable>(),
  };
  return all;
}

namespace {

const MethodInfo* find_serving_form(std::string_view key) {
  for (const auto& m : serving_forms()) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

std::unique_ptr<EmbeddingTable> build(const MethodInfo& info, const SpecString& parsed,
                                      const TableArgs& args) {
  const Options options(info.key, info.options, parsed.options);
  auto table = info.make(args, options);
  options.require_all_read();
  table->set_spec(options.canonical());
  return table;
}

}  // namespace

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
  if (find_serving_form(parsed.key) != nullptr) {
    throw InvalidArgument("'" + parsed.key + "' is a serving form: it comes from a method's "
                          "freeze() or a frozen checkpoint, not from make_table");
  }
  return build(method_info(parsed.key), parsed, args);
}

std::unique_ptr<EmbeddingTable> make_frozen_table(std::string_view spec, const TableArgs& args) {
  const SpecString parsed = SpecString::parse(spec);
  if (const MethodInfo* form = find_serving_form(parsed.key)) return build(*form, parsed, args);
  return make_table(spec, args);
}

}  // namespace embcomp
