// The parts of the CUDA backend that read CPU objects (tables, optimizers): plain C++, compiled
// by the host compiler in both builds, so the .cu files need none of the CPU library's headers.
#include <xxhash.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cafe_router.hpp"
#include "embcomp/cuda/autodim_table.hpp"
#include "embcomp/cuda/autosrh_table.hpp"
#include "embcomp/cuda/cafe_table.hpp"
#include "embcomp/cuda/deeplight_table.hpp"
#include "embcomp/cuda/dhe_table.hpp"
#include "embcomp/cuda/gather_table.hpp"
#include "embcomp/cuda/kept_rows_table.hpp"
#include "embcomp/cuda/mde_table.hpp"
#include "embcomp/cuda/optembed_table.hpp"
#include "embcomp/cuda/pep_table.hpp"
#include "embcomp/cuda/pq_table.hpp"
#include "embcomp/cuda/qr_table.hpp"
#include "embcomp/cuda/robe_table.hpp"
#include "embcomp/cuda/tt_table.hpp"
#include "embcomp/methods/adaembed.hpp"
#include "embcomp/methods/autodim.hpp"
#include "embcomp/methods/autosrh.hpp"
#include "embcomp/methods/cafe.hpp"
#include "embcomp/methods/dedup.hpp"
#include "embcomp/methods/deeplight.hpp"
#include "embcomp/methods/dhe.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/hash.hpp"
#include "embcomp/methods/mde.hpp"
#include "embcomp/methods/optembed.hpp"
#include "embcomp/methods/pep.hpp"
#include "embcomp/methods/pq_training.hpp"
#include "embcomp/methods/qr.hpp"
#include "embcomp/methods/robe.hpp"
#include "embcomp/methods/tt.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "embcomp/optim/sgd.hpp"

namespace embcomp::cuda {
namespace {

/// The methods the CUDA backend has twins for, for error messages.
constexpr const char* kTwinMethods =
    "full, int8, int16, alpt, hash, adaembed, dedup, deeplight, pep, autosrh, optembed, dpq, mgqe, "
    "autodim, qr, mde, robe, tt, dhe, cafe and cafe-ml";

/// The table's parameter `name`, or null.
const Parameter* find_parameter(const EmbeddingTable& table, const std::string& name) {
  for (const Parameter* p : table.parameters()) {
    if (p->name() == name) return p;
  }
  return nullptr;
}
Parameter* find_parameter(EmbeddingTable& table, const std::string& name) {
  return const_cast<Parameter*>(find_parameter(std::as_const(table), name));
}

/// The table's "rows" parameter.
const Parameter& rows_parameter(const EmbeddingTable& table, const std::string& method) {
  if (const Parameter* rows = find_parameter(table, "rows")) return *rows;
  throw InvalidArgument("cuda: method '" + method + "' has no 'rows' parameter");
}

/// Every parameter of `table` but those `trained` names, with its values: what a twin keeps as
/// it is (a stage's untrained placeholders).
UntrainedParameters untrained_parameters(const EmbeddingTable& table,
                                         const std::function<bool(const std::string&)>& trained) {
  UntrainedParameters out;
  for (const Parameter* p : table.parameters()) {
    if (!trained(p->name()))
      out.entries.emplace_back(p->name(), std::vector<float>(p->data(), p->data() + p->size()));
  }
  return out;
}

/// Writes the twin's parameters `names` (rows_to_host) into `table`'s fp32 parameters of the same
/// names and sizes, every one checked before any is written: InvalidArgument naming `what` (the
/// twin) otherwise.
void copy_parameters(const DeviceTable& twin, EmbeddingTable& table,
                     const std::vector<std::string>& names, const std::string& what) {
  std::vector<std::pair<Parameter*, std::vector<float>>> targets;
  for (const std::string& name : names) {
    std::vector<float> values = twin.rows_to_host(name);  // InvalidArgument for a foreign name
    Parameter* p = find_parameter(table, name);
    if (p == nullptr || p->size() != values.size() || !p->is_fp32()) {
      throw InvalidArgument("cuda: cannot copy " + what + "'s '" + name + "' (" +
                            std::to_string(values.size()) + " floats) into '" + table.spec() +
                            "', which has no fp32 parameter of that name and size");
    }
    targets.emplace_back(p, std::move(values));
  }
  for (auto& [param, values] : targets) std::copy(values.begin(), values.end(), param->data());
}

/// The device form of `param`'s codec.
DeviceCodec device_codec(const Parameter& param) {
  const CodecSpec& spec = param.codec();
  DeviceCodec codec;
  codec.storage = spec.codec == Codec::int8    ? DeviceCodec::Storage::int8
                  : spec.codec == Codec::int16 ? DeviceCodec::Storage::int16
                                               : DeviceCodec::Storage::fp32;
  if (spec.codec == Codec::fp32) return codec;
  codec.learned = spec.scale_mode == ScaleMode::learned;
  codec.per_row = spec.scale_mode == ScaleMode::per_row || codec.learned;
  codec.scale = spec.scale;
  codec.offset = spec.offset;
  codec.step_lr_scale = spec.step_lr_scale;
  return codec;
}

std::string method_of(const EmbeddingTable& table, const char* fallback) {
  const std::string& spec = table.spec();
  return spec.empty() ? fallback : spec.substr(0, spec.find(':'));
}

/// The device rows of a GatherTable from the CPU table's "rows" parameter.
HostRows host_rows(const EmbeddingTable& table, const std::string& method) {
  const Parameter& rows = rows_parameter(table, method);
  HostRows host;
  host.rows = rows.rows();
  host.width = rows.width();
  host.values = rows.storage();
  host.codec = device_codec(rows);
  if (host.codec.per_row) host.row_scales = rows.row_scales();
  host.lr_scale = rows.lr_scale();
  host.rounding_seed = XXH64(rows.name().data(), rows.name().size(), 0);
  return host;
}

}  // namespace

std::unique_ptr<DeviceTable> mirror(EmbeddingTable& table) {
  if (dynamic_cast<const embcomp::CafeTable*>(&table) != nullptr) {
    return std::make_unique<CafeTable>(CafeTable::mirror(table));
  }
  if (dynamic_cast<const embcomp::QrTable*>(&table) != nullptr) {
    return std::make_unique<QrTable>(QrTable::mirror(table));
  }
  if (dynamic_cast<const embcomp::MdeTable*>(&table) != nullptr) {
    return std::make_unique<MdeTable>(MdeTable::mirror(table));
  }
  if (const auto* autodim = dynamic_cast<const embcomp::AutoDimTable*>(&table)) {
    if (autodim->searching()) return std::make_unique<AutoDimTable>(AutoDimTable::mirror(*autodim));
    return std::make_unique<MdeTable>(MdeTable::mirror(table));
  }
  if (auto* deeplight = dynamic_cast<embcomp::DeepLightTable*>(&table)) {
    return std::make_unique<DeepLightTable>(DeepLightTable::mirror(*deeplight));
  }
  if (auto* pep = dynamic_cast<embcomp::PepTable*>(&table)) {
    return std::make_unique<PepTable>(PepTable::mirror(*pep));
  }
  if (const auto* optembed = dynamic_cast<const embcomp::OptEmbedTable*>(&table)) {
    if (optembed->searching())
      return std::make_unique<OptEmbedTable>(OptEmbedTable::mirror(*optembed));
    return std::make_unique<KeptRowsTable>(KeptRowsTable::mirror(*optembed));
  }
  if (const auto* autosrh = dynamic_cast<const embcomp::AutoSrhTable*>(&table)) {
    return std::make_unique<AutoSrhTable>(AutoSrhTable::mirror(*autosrh));
  }
  if (auto* pq = dynamic_cast<StraightThroughPq*>(&table)) {
    return std::make_unique<PqTable>(PqTable::mirror(*pq));
  }
  if (dynamic_cast<const embcomp::RobeTable*>(&table) != nullptr) {
    return std::make_unique<RobeTable>(RobeTable::mirror(table));
  }
  if (dynamic_cast<const embcomp::TtTable*>(&table) != nullptr) {
    return std::make_unique<TtTable>(TtTable::mirror(table));
  }
  if (dynamic_cast<const embcomp::DheTable*>(&table) != nullptr) {
    return std::make_unique<DheTable>(DheTable::mirror(table));
  }
  if (dynamic_cast<const FullTable*>(&table) != nullptr ||
      dynamic_cast<const HashTable*>(&table) != nullptr ||
      dynamic_cast<const AdaEmbedTable*>(&table) != nullptr ||
      dynamic_cast<const DedupTable*>(&table) != nullptr) {
    return std::make_unique<GatherTable>(GatherTable::mirror(table));
  }
  throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                        "' has no CUDA twin yet; the CUDA backend has " + kTwinMethods);
}

GatherTable GatherTable::mirror(const EmbeddingTable& table) {
  std::vector<kernels::FieldRows> fields;
  std::string method;
  HostHotSets hot_sets;
  HostBlockRemap remap;
  if (const auto* ada = dynamic_cast<const AdaEmbedTable*>(&table)) {
    fields = ada->field_rows();
    method = method_of(table, AdaEmbedTable::kKey);
    hot_sets = {ada->hot_ids(), ada->hot_words(), ada->hot_ranks()};
  } else if (const auto* hash = dynamic_cast<const HashTable*>(&table)) {
    fields = hash->field_rows();
    method = method_of(table, HashTable::kKey);
  } else if (const auto* full = dynamic_cast<const FullTable*>(&table)) {
    fields = full->field_rows();
    method = method_of(table, FullTable::kKey);
  } else if (const auto* dedup = dynamic_cast<const DedupTable*>(&table)) {
    fields = dedup->field_rows();
    method = method_of(table, DedupTable::kKey);
    const kernels::BlockRemap blocks = dedup->block_remap();
    if (blocks.remap != nullptr) {
      remap = {{blocks.remap, static_cast<std::size_t>(dedup->blocks())}, blocks.block_rows};
    }
  } else {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' has no cuda::GatherTable; it has full, int8, int16, alpt, hash, "
                          "adaembed and dedup (qr: cuda::QrTable, mde: cuda::MdeTable, cafe and "
                          "cafe-ml: "
                          "cuda::CafeTable)");
  }
  return GatherTable(method, std::move(fields), table.schema().cardinalities,
                     host_rows(table, method), hot_sets, remap);
}

void GatherTable::copy_rows_to(EmbeddingTable& table) const {
  for (Parameter* p : table.parameters()) {
    if (p->name() != "rows") continue;
    const DeviceCodec codec = device_codec(*p);
    if (codec.storage != codec_.storage || codec.per_row != codec_.per_row ||
        codec.learned != codec_.learned || p->rows() != rows_ || p->width() != width_) {
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

DeepLightTable DeepLightTable::mirror(embcomp::DeepLightTable& table) {
  if (table.finalized()) {
    throw InvalidArgument("cuda: '" + table.spec() +
                          "' is finalized; its sparse serving rows are the CPU table's");
  }
  const std::string method = method_of(table, embcomp::DeepLightTable::kKey);
  return DeepLightTable(GatherTable(method, table.field_rows(), table.schema().cardinalities,
                                    host_rows(table, method)),
                        table);
}

void DeepLightTable::after_step(const StepContext& ctx) {
  const Index zeros = schedule_->scheduled_zeros(ctx);
  if (zeros >= 0) prune(zeros);
}

QrTable QrTable::mirror(const EmbeddingTable& table) {
  const auto* qr = dynamic_cast<const embcomp::QrTable*>(&table);
  if (qr == nullptr) {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' is not qr; cuda::QrTable mirrors qr tables only");
  }
  HostTables host;
  host.op = qr->sizing().op;
  host.collisions = qr->collisions();
  host.dim = table.dim();
  host.fields = qr->field_layout();
  const auto part = [&](const char* name) {
    const Parameter* p = find_parameter(table, name);
    return p == nullptr ? HostPart{} : HostPart{p->rows(), p->width(), p->data(), p->lr_scale()};
  };
  host.quotient = part("quotient");
  host.remainder = part("remainder");
  host.full = part("full");
  return QrTable(method_of(table, embcomp::QrTable::kKey), table.schema().cardinalities, host);
}

void QrTable::copy_rows_to(EmbeddingTable& table) const {
  for (const char* name : {"quotient", "remainder", "full"}) {
    const DeviceRows& rows = part(name);
    Parameter* p = find_parameter(table, name);
    if (rows.rows == 0 && p == nullptr) continue;
    if (p == nullptr || p->rows() != rows.rows || p->width() != rows.width || !p->is_fp32()) {
      throw InvalidArgument("cuda: cannot copy qr's '" + std::string(name) + "' table (" +
                            std::to_string(rows.rows) + " x " + std::to_string(rows.width) +
                            ") into '" + table.spec() + "', which has no such fp32 table");
    }
  }
  for (const char* name : {"quotient", "remainder", "full"}) {
    const DeviceRows& rows = part(name);
    if (rows.rows > 0) rows.values.download(find_parameter(table, name)->data());
  }
}

MdeTable MdeTable::mirror(const EmbeddingTable& table) {
  const auto* autodim = dynamic_cast<const embcomp::AutoDimTable*>(&table);
  if (dynamic_cast<const embcomp::MdeTable*>(&table) == nullptr && autodim == nullptr) {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' is not mde or autodim; cuda::MdeTable mirrors their projected "
                          "fields only");
  }
  if (autodim != nullptr && autodim->searching()) {
    throw InvalidArgument("cuda: '" + table.spec() +
                          "' is searching; its supernet is a cuda::AutoDimTable");
  }
  HostTables host;
  host.dim = table.dim();
  std::vector<float> rows_scales, projection_scales, bias_scales;
  for (Index f = 0; f < table.schema().num_fields(); ++f) {
    const std::string name = "field" + std::to_string(f);
    const Parameter& rows = *find_parameter(table, name + ".rows");
    const Parameter* projection = find_parameter(table, name + ".projection");
    const Parameter* bias = find_parameter(table, name + ".bias");
    host.fields.push_back({rows.rows(), rows.width(), rows.data(),
                           projection == nullptr ? nullptr : projection->data(),
                           bias == nullptr ? nullptr : bias->data()});
    rows_scales.push_back(rows.lr_scale());
    if (projection != nullptr) projection_scales.push_back(projection->lr_scale());
    if (bias != nullptr) bias_scales.push_back(bias->lr_scale());
  }
  const auto uniform = [&](const std::vector<float>& scales, const char* what) {
    if (scales.empty()) return 1.0f;
    if (std::adjacent_find(scales.begin(), scales.end(), std::not_equal_to<>()) != scales.end()) {
      throw InvalidArgument("cuda::MdeTable: the " + std::string(what) +
                            " of '" + table.spec() + "' have different learning-rate scales");
    }
    return scales.front();
  };
  host.rows_lr_scale = uniform(rows_scales, "rows");
  host.projection_lr_scale = uniform(projection_scales, "projections");
  host.bias_lr_scale = uniform(bias_scales, "biases");
  host.untrained = untrained_parameters(
      table, [](const std::string& name) { return name.starts_with("field"); });
  return MdeTable(
      method_of(table, autodim != nullptr ? embcomp::AutoDimTable::kKey : embcomp::MdeTable::kKey),
      host);
}

void MdeTable::copy_rows_to(EmbeddingTable& table) const {
  std::vector<std::string> names;
  if (!stacked_names_.empty()) {
    names.push_back(stacked_names_ + ".rows");
    if (projected(0)) names.push_back(stacked_names_ + ".weight");
    if (biased(0)) names.push_back(stacked_names_ + ".bias");
  }
  for (Index f = 0; stacked_names_.empty() && f < fields(); ++f) {
    const std::string name = "field" + std::to_string(f);
    names.push_back(name + ".rows");
    if (projected(f)) names.push_back(name + ".projection");
    if (biased(f)) names.push_back(name + ".bias");
  }
  copy_parameters(*this, table, names, method_);
}

RobeTable RobeTable::mirror(const EmbeddingTable& table) {
  const auto* robe = dynamic_cast<const embcomp::RobeTable*>(&table);
  if (robe == nullptr) {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' is not robe; cuda::RobeTable mirrors robe tables only");
  }
  HostArray host;
  host.hash = robe->hash();
  host.dim = table.dim();
  host.cells = robe->array().data();
  host.field_offsets = table.schema().field_offsets();
  host.lr_scale = robe->array().lr_scale();
  return RobeTable(method_of(table, embcomp::RobeTable::kKey), table.schema().cardinalities, host);
}

void RobeTable::copy_rows_to(EmbeddingTable& table) const {
  Parameter* array = find_parameter(table, "array");
  if (array == nullptr || !array->is_fp32() || array->rows() != size() || array->width() != 1) {
    throw InvalidArgument("cuda: cannot copy robe's array (" + std::to_string(size()) +
                          " cells) into '" + table.spec() + "', which has no such fp32 array");
  }
  array_.values.download(array->data());
}

TtTable TtTable::mirror(const EmbeddingTable& table) {
  const auto* tt = dynamic_cast<const embcomp::TtTable*>(&table);
  if (tt == nullptr) {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' is not tt; cuda::TtTable mirrors tt tables only");
  }
  HostTables host;
  host.dim = table.dim();
  host.shared = tt->sizing().shared;
  host.tables = tt->layouts();
  for (const kernels::TtLayout& layout : host.tables) {
    if (layout.compressed) host.shape = layout.shape;  // every compressed table has the same
  }
  host.offsets = table.schema().field_offsets();
  host.cache_keys = tt->cached_keys();
  const auto part = [&](const std::string& name) {
    const Parameter* p = find_parameter(table, name);
    return p == nullptr ? HostTables::Part{}
                        : HostTables::Part{p->rows(), p->width(), p->data(), p->lr_scale()};
  };
  for (int c = 0; c < 3; ++c) host.cores[c] = part("core" + std::to_string(c));
  host.full = part("full");
  host.cache = part("cache");
  return TtTable(method_of(table, embcomp::TtTable::kKey), table.schema().cardinalities, host);
}

void TtTable::copy_rows_to(EmbeddingTable& table) const {
  std::vector<std::pair<Parameter*, std::string>> targets;
  for (const char* name : {"core0", "core1", "core2", "full", "cache"}) {
    const DeviceRows& rows = part(name);
    Parameter* p = find_parameter(table, name);
    if (rows.rows == 0 && p == nullptr) continue;
    if (p == nullptr || p->rows() != rows.rows || p->width() != rows.width || !p->is_fp32()) {
      throw InvalidArgument("cuda: cannot copy tt's '" + std::string(name) + "' (" +
                            std::to_string(rows.rows) + " x " + std::to_string(rows.width) +
                            ") into '" + table.spec() + "', which has no such fp32 table");
    }
    targets.emplace_back(p, name);
  }
  for (const auto& [param, name] : targets) part(name).values.download(param->data());
}

DheTable DheTable::mirror(const EmbeddingTable& table) {
  const auto* dhe = dynamic_cast<const embcomp::DheTable*>(&table);
  if (dhe == nullptr) {
    throw InvalidArgument("cuda: method '" + method_of(table, "?") +
                          "' is not dhe; cuda::DheTable mirrors dhe tables only");
  }
  HostTables host;
  host.dim = table.dim();
  host.hashes = dhe->hash_count();
  host.hidden = dhe->hidden();
  host.buckets = dhe->buckets();
  host.encoding = dhe->encoding();
  for (Index f = 0; f < table.schema().num_fields(); ++f) {
    host.field_hashes.push_back(dhe->field_hashes(f));
    host.full_base.push_back(dhe->full_base(f));
  }
  for (const Parameter* p : table.parameters()) {
    host.parameters.push_back(
        {p->name(), p->rows(), p->width(), p->data(), p->lr_scale(), p->optimized()});
  }
  return DheTable(method_of(table, embcomp::DheTable::kKey), table.schema().cardinalities, host);
}

void DheTable::copy_rows_to(EmbeddingTable& table) const {
  std::vector<std::string> names;
  for (const Parameter* p : table.parameters()) names.push_back(p->name());
  copy_parameters(*this, table, names, "dhe");
}

PepTable PepTable::mirror(embcomp::PepTable& table) {
  if (table.finalized()) {
    throw InvalidArgument(
        "cuda: a finalized pep table serves sparse rows; its twin mirrors the "
        "training stages");
  }
  HostTables host;
  const Parameter& rows = rows_parameter(table, embcomp::PepTable::kKey);
  host.rows = rows.rows();
  host.dim = table.dim();
  host.values = rows.data();
  host.lr_scale = rows.lr_scale();
  host.offsets = table.schema().field_offsets();
  host.pruning = table.pruning();
  const Parameter* threshold = find_parameter(table, "threshold");
  host.thresholds = threshold->data();
  host.threshold_lr_scale = threshold->lr_scale();
  if (host.pruning) {
    switch (table.threshold_kind()) {
      case embcomp::PepThreshold::feature_dimension:
        host.threshold = Threshold::entry;
        break;
      case embcomp::PepThreshold::feature:
        host.threshold = Threshold::row;
        break;
      case embcomp::PepThreshold::dimension:
        host.threshold = Threshold::column;
        break;
      case embcomp::PepThreshold::global:
        host.threshold = Threshold::global;
        break;
    }
  } else {
    host.mask = table.mask_words();
  }
  return PepTable(method_of(table, embcomp::PepTable::kKey), table.schema().cardinalities, host,
                  &table);
}

void PepTable::after_step(const StepContext& ctx) {
  // The CPU table measures the sparsity its pruning stage ends by, from its own rows and
  // thresholds, when the trainer validates next: they are copied there first.
  if (!pruning() || !ctx.evaluation_follows || schedule_ == nullptr) return;
  copy_rows_to(*schedule_);
  schedule_->after_step(ctx);
}

void PepTable::copy_rows_to(EmbeddingTable& table) const {
  copy_parameters(*this, table, {"rows", "threshold"}, "pep");
}

OptEmbedTable OptEmbedTable::mirror(const embcomp::OptEmbedTable& table) {
  if (!table.searching()) {
    throw InvalidArgument("cuda: '" + table.spec() +
                          "' has searched; its kept rows are a cuda::KeptRowsTable");
  }
  HostSupernet host;
  host.rows = table.rows().rows();
  host.dim = table.dim();
  host.values = table.rows().data();
  host.lr_scale = table.rows().lr_scale();
  host.offsets = table.schema().field_offsets();
  host.thresholds = table.threshold().data();
  host.alpha = table.alpha();
  host.threshold_lr = table.threshold_lr();
  host.seed = table.seed();
  host.supernet_steps = table.supernet_steps();
  host.untrained = untrained_parameters(
      table, [](const std::string& name) { return name == "rows" || name == "threshold"; });
  return OptEmbedTable(method_of(table, embcomp::OptEmbedTable::kKey), table.schema().cardinalities,
                       host);
}

void OptEmbedTable::copy_rows_to(EmbeddingTable& table) const {
  auto* target = dynamic_cast<embcomp::OptEmbedTable*>(&table);
  if (target == nullptr || !target->searching()) {
    throw InvalidArgument("cuda: cannot copy optembed's supernet into '" + table.spec() +
                          "', which is not an optembed table before its search");
  }
  copy_parameters(*this, table, {"rows", "threshold"}, "optembed's supernet");
  target->set_supernet_steps(supernet_steps_);
}

KeptRowsTable KeptRowsTable::mirror(const embcomp::OptEmbedTable& table) {
  if (table.searching()) {
    throw InvalidArgument("cuda: '" + table.spec() +
                          "' has not searched yet; its supernet is a cuda::OptEmbedTable");
  }
  const KeptRows& kept = table.kept();
  HostTables host;
  host.dim = table.dim();
  for (Index f = 0; f < kept.fields(); ++f) {
    const KeptField& field = kept.field(f);
    host.fields.push_back({field.kept, field.width, static_cast<kernels::HotSet>(field.set),
                           field.set_offset, kept.rows(f).data()});
  }
  host.set_ids = table.kept_ids();
  host.set_words = table.kept_words();
  host.set_ranks = table.kept_ranks();
  host.lr_scale = kept.fields() > 0 ? kept.rows(0).lr_scale() : 1.0f;
  host.untrained = untrained_parameters(table, [&](const std::string& name) {
    for (Index f = 0; f < kept.fields(); ++f) {
      if (name == kept.rows(f).name()) return true;
    }
    return false;
  });
  return KeptRowsTable(method_of(table, embcomp::OptEmbedTable::kKey), table.schema().cardinalities,
                       host);
}

void KeptRowsTable::copy_rows_to(EmbeddingTable& table) const {
  std::vector<std::string> names;
  for (Index f = 0; f < fields(); ++f) names.push_back("field" + std::to_string(f) + ".rows");
  copy_parameters(*this, table, names, "the kept rows");
}

namespace {

/// The table's codes in two groups; InvalidArgument for a quantizer that keeps them otherwise.
StraightThroughPq::GroupedCodes grouped_codes(StraightThroughPq& table) {
  std::optional<StraightThroughPq::GroupedCodes> codes = table.grouped_codes();
  if (!codes) {
    throw InvalidArgument(
        "cuda: '" + table.spec() +
        "' keeps its codes in no grouped form; cuda::PqTable mirrors dpq and mgqe");
  }
  return std::move(*codes);
}

}  // namespace

PqTable PqTable::mirror(StraightThroughPq& table) {
  const StraightThroughPq::GroupedCodes codes = grouped_codes(table);
  const Parameter& query = *find_parameter(table, "query");
  const Parameter& centroids = *find_parameter(table, "centroids");
  HostTables host;
  host.rows = query.rows();
  host.dim = table.dim();
  host.parts = table.parts();
  host.part_stride = table.part_stride();
  host.query = query.data();
  host.query_lr_scale = query.lr_scale();
  host.centroid_rows = centroids.rows();
  host.centroids = centroids.data();
  host.centroid_lr_scale = centroids.lr_scale();
  host.offsets = table.schema().field_offsets();
  host.high_before = codes.split.high_before();
  host.split_words = codes.split.words();
  host.split_ranks = codes.split.ranks();
  host.high_candidates = codes.high_candidates;
  host.low_candidates = codes.low_candidates;
  host.high_codes = *codes.arrays.at(0);
  if (codes.arrays.size() > 1) host.low_codes = *codes.arrays[1];
  return PqTable(method_of(table, "?"), table.schema().cardinalities, host);
}

void PqTable::copy_rows_to(EmbeddingTable& table) const {
  auto* pq = dynamic_cast<StraightThroughPq*>(&table);
  std::optional<StraightThroughPq::GroupedCodes> target;
  if (pq != nullptr) target = pq->grouped_codes();
  Parameter* query = find_parameter(table, "query");
  Parameter* centroids = find_parameter(table, "centroids");
  const std::vector<float> query_values = rows_to_host("query");
  const std::vector<float> centroid_values = rows_to_host("centroids");
  std::vector<std::vector<std::uint64_t>> codes;
  bool fits = target && query != nullptr && centroids != nullptr &&
              query->size() == query_values.size() && centroids->size() == centroid_values.size();
  for (std::size_t g = 0; fits && g < target->arrays.size(); ++g) {
    codes.push_back(codes_to_host(g == 0));
    fits = target->arrays[g]->size() == codes.back().size();
  }
  if (!fits) {
    throw InvalidArgument(
        "cuda: cannot copy a product quantizer's queries, centroids and codes "
        "into '" +
        table.spec() + "', which has no such parameters and codes");
  }
  std::copy(query_values.begin(), query_values.end(), query->data());
  std::copy(centroid_values.begin(), centroid_values.end(), centroids->data());
  for (std::size_t g = 0; g < codes.size(); ++g) *target->arrays[g] = std::move(codes[g]);
}

AutoSrhTable AutoSrhTable::mirror(const embcomp::AutoSrhTable& table) {
  if (table.finalized()) {
    throw InvalidArgument(
        "cuda: a finalized autosrh table serves sparse rows; its twin mirrors "
        "the training stages");
  }
  const Parameter& rows = rows_parameter(table, embcomp::AutoSrhTable::kKey);
  HostTables host;
  host.rows = rows.rows();
  host.dim = table.dim();
  host.values = rows.data();
  host.lr_scale = rows.lr_scale();
  host.offsets = table.schema().field_offsets();
  host.groups = table.alpha().rows();
  host.alpha = table.alpha().data();
  host.group = table.groups();
  host.alpha_l1 = table.alpha_l1();
  host.alpha_lr = table.alpha_lr();
  host.searching = table.stages().at(table.stage()).uses_validation;
  host.mask = table.mask_words();
  return AutoSrhTable(method_of(table, embcomp::AutoSrhTable::kKey), table.schema().cardinalities,
                      host);
}

AutoDimTable AutoDimTable::mirror(const embcomp::AutoDimTable& table) {
  if (!table.searching()) {
    throw InvalidArgument("cuda: '" + table.spec() +
                          "' has left its search; its fields are a cuda::MdeTable");
  }
  HostTables host;
  host.dim = table.dim();
  for (const Index w : table.candidates()) {
    const std::string name = "search" + std::to_string(w);
    host.candidates.push_back({w, find_parameter(table, name + ".rows")->data(),
                               find_parameter(table, name + ".weight")->data(),
                               find_parameter(table, name + ".bias")->data(),
                               find_parameter(table, name + ".norm")->data()});
  }
  const std::string first = "search" + std::to_string(table.candidates().front());
  host.rows_lr_scale = find_parameter(table, first + ".rows")->lr_scale();
  host.weight_lr_scale = find_parameter(table, first + ".weight")->lr_scale();
  host.bias_lr_scale = find_parameter(table, first + ".bias")->lr_scale();
  const Parameter& alpha = table.alpha();
  host.logits = {std::vector<float>(alpha.data(), alpha.data() + alpha.size()),
                 table.alpha_lr(),
                 table.temperature_decay(),
                 table.mixing_stream(),
                 table.search_steps(),
                 table.samples_seen()};
  host.untrained = untrained_parameters(
      table, [](const std::string& name) { return name == "alpha" || name.starts_with("search"); });
  return AutoDimTable(method_of(table, embcomp::AutoDimTable::kKey), table.schema().cardinalities,
                      host);
}

void AutoDimTable::copy_rows_to(EmbeddingTable& table) const {
  auto* target = dynamic_cast<embcomp::AutoDimTable*>(&table);
  if (target == nullptr || !target->searching()) {
    throw InvalidArgument("cuda: cannot copy autodim's search into '" + table.spec() +
                          "', which is not an autodim table in its search");
  }
  std::vector<std::string> names{"alpha"};
  for (const Index w : target->candidates()) {
    for (const char* part : {".rows", ".weight", ".bias", ".norm"})
      names.push_back("search" + std::to_string(w) + part);
  }
  copy_parameters(*this, table, names, "autodim");
  target->set_search_counters(search_steps(), samples_seen());
}

void AutoSrhTable::copy_rows_to(EmbeddingTable& table) const {
  copy_parameters(*this, table, {"rows", "alpha"}, "autosrh");
}

void CafeTable::copy_rows_to(EmbeddingTable& table) const {
  std::vector<Parameter*> targets;
  for (const detail::CafeRouter::Table& t : router_->tables()) {
    Parameter* p = find_parameter(table, t.name);
    if (p == nullptr || !p->is_fp32() || p->rows() != t.rows || p->width() != dim()) {
      throw InvalidArgument("cuda: cannot copy cafe's '" + t.name + "' table (" +
                            std::to_string(t.rows) + " x " + std::to_string(dim()) + ") into '" +
                            table.spec() + "', which has no such fp32 table");
    }
    targets.push_back(p);
  }
  for (Parameter* param : targets) {
    const std::vector<float> values = rows_to_host(param->name());
    std::copy(values.begin(), values.end(), param->data());
  }
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
  } else if (const auto* rowwise = dynamic_cast<const RowwiseAdagrad*>(&optimizer)) {
    device.kind = Kind::rowwise_adagrad;
    device.rowwise_adagrad = rowwise->rule();
  } else {
    throw InvalidArgument("cuda: optimizer '" + optimizer.name() +
                          "' has no device form (sgd, adagrad, adam and rowwise_adagrad have)");
  }
  return device;
}

}  // namespace embcomp::cuda
