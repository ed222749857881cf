// DheTable (cuda/include/embcomp/cuda/dhe_table.hpp): the encoding and full-row kernels, the
// networks (dense_layers.hpp) and their driver. The same source builds under nvcc and, in host
// mode, as C++ against the shim (host/).
#include "embcomp/cuda/dhe_table.hpp"

#include <algorithm>
#include <deque>
#include <string>
#include <utility>

#include "backend.cuh"
#include "dense_layers.hpp"
#include "embcomp/core/error.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// x [B x k]: the encoding of field f's ids (checked before), one thread per (sample, unit): a
/// hash for the uniform encoding, a pair of hashes for the normal one (kernels::dhe_encode over
/// that unit writes exactly its values).
EMBCOMP_KERNEL void dhe_encode_kernel(const Index* ids, Index batch, Index fields, Index field,
                                      const kernels::UniversalHash* hashes, Index k, std::int64_t m,
                                      kernels::DheEncoding encoding, float* x) {
  const Index unit = encoding == kernels::DheEncoding::normal ? 2 : 1;
  const Index units = k / unit;
  for (Index i = thread_index(); i < batch * units; i += thread_count()) {
    const Index b = i / units;
    const Index u = i - b * units;
    kernels::dhe_encode(hashes + u * unit, unit, m, encoding, ids[b * fields + field],
                        x + b * k + u * unit);
  }
}

/// The ids checked (the first bad position recorded); with dE, its rows checked and each
/// position's "full" row as a sort key (kNoRow for a network field's position).
EMBCOMP_KERNEL void dhe_rows_kernel(BatchIds batch, const Index* full_base, const float* dE,
                                    Index d, RowKey* keys, Position* positions,
                                    unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    const Index id = batch.checked_id(p);
    if (dE == nullptr) continue;
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    const Index base = full_base[p % batch.fields];
    keys[p] = id < 0 || base < 0 ? kNoRow : static_cast<RowKey>(base + id);
  }
}

/// out's rows of the full fields' positions (one thread per element).
EMBCOMP_KERNEL void dhe_full_lookup_kernel(const Index* ids, Index count, Index fields,
                                           const Index* full_base, const float* full, Index d,
                                           float* out) {
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    const Index p = i / d;
    const Index base = full_base[p % fields];
    if (base < 0) continue;
    out[i] = full[(base + ids[p]) * d + (i - p * d)];
  }
}

}  // namespace detail

using detail::ActivationLayer;
using detail::Activations;
using detail::BatchNormLayer;
using detail::DenseParameter;
using detail::LinearLayer;

/// Every network's layers over its parameters, the full rows, and the step's scratch.
struct DheTable::Networks {
  /// Field `field`'s network: its hashes and layers.
  struct Network {
    Index field = 0;
    DeviceArray<kernels::UniversalHash> hashes;
    std::deque<LinearLayer> linears;          ///< [6]
    std::deque<BatchNormLayer> norms;         ///< [5]
    std::deque<ActivationLayer> activations;  ///< [5], Mish
    Activations encoded;                      ///< [B x k]
    Activations output_grad;                  ///< [B x d]: the field's dE rows
  };

  Index hashes = 0;
  std::int64_t buckets = 2;
  kernels::DheEncoding encoding = kernels::DheEncoding::uniform;
  std::deque<DenseParameter> trained;  ///< the optimizer's parameters, the CPU table's order
  std::deque<DenseParameter> running;  ///< the BatchNorm running statistics (no gradient)
  DeviceRows full;                     ///< "full" (rows 0 without full fields)
  DeviceArray<Index> full_base;        ///< [F] a full field's first row, -1 for a network's
  std::deque<Network> nets;
  // What the last forward() saw, for train_step: its device ids and batch.
  const Index* forwarded_ids = nullptr;
  Index forwarded_batch = -1;
  DeviceArray<unsigned long long> first_bad{1};
  DeviceArray<std::uint32_t> keys, sorted_keys;
  DeviceArray<std::int32_t> positions, sorted_positions;
  DeviceArray<float> row_gradients;

  DenseParameter* find(const std::string& name) {
    for (auto* list : {&trained, &running}) {
      for (DenseParameter& p : *list) {
        if (p.name == name) return &p;
      }
    }
    return nullptr;
  }
  DenseParameter& at(const std::string& name) {
    if (DenseParameter* p = find(name)) return *p;
    throw InvalidArgument("cuda::DheTable: no parameter '" + name + "'");
  }

  /// Every network's output for the batch (field f's into out's columns [f d, (f + 1) d) of
  /// [B x F d] when out is given): BatchNorm with the batch's statistics or the running ones.
  void run(const DeviceIds& ids, Index d, float* out, bool batch_statistics, bool update_running) {
    for (Network& net : nets) {
      const Index B = ids.batch;
      float* x = net.encoded.resize(B, hashes);
      const Index units = encoding == kernels::DheEncoding::normal ? hashes / 2 : hashes;
      detail::launch(B * units, detail::dhe_encode_kernel, ids.ids, B, ids.fields, net.field,
                     static_cast<const kernels::UniversalHash*>(net.hashes.data()), hashes, buckets,
                     encoding, x);
      const float* h = x;
      for (std::size_t l = 0; l < net.norms.size(); ++l) {
        h = net.linears[l].forward(h, B);
        h = net.norms[l].forward(h, B, batch_statistics, update_running);
        h = net.activations[l].forward(h, B, net.norms[l].channels());
      }
      const float* e = net.linears.back().forward(h, B);
      if (out != nullptr) detail::copy_columns(e, d, 0, B, d, out, ids.fields * d, net.field * d);
    }
  }

  /// Every network's gradients for dE [B*F x d] of the last run.
  void backward(const DeviceIds& ids, Index d, const float* dE) {
    for (Network& net : nets) {
      const Index B = ids.batch;
      float* dy = net.output_grad.resize(B, d);
      detail::copy_columns(dE, ids.fields * d, net.field * d, B, d, dy, d, 0);
      const float* g = net.linears.back().backward(dy);
      for (std::size_t l = net.norms.size(); l-- > 0;) {
        g = net.linears[l].backward(net.norms[l].backward(net.activations[l].backward(g)));
      }
    }
  }
};

DheTable::DheTable(std::string method, std::vector<Index> cardinalities, const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      networks_(std::make_unique<Networks>()) {
  const auto fields = cardinalities_.size();
  if (host.field_hashes.size() != fields || host.full_base.size() != fields || dim_ <= 0 ||
      host.hashes < 1 || (host.encoding == kernels::DheEncoding::normal && host.hashes % 2 != 0)) {
    throw InvalidArgument("cuda::DheTable: " + std::to_string(host.field_hashes.size()) +
                          " fields' hashes for " + std::to_string(fields) + " fields, d = " +
                          std::to_string(dim_) + ", k = " + std::to_string(host.hashes));
  }
  Networks& n = *networks_;
  n.hashes = host.hashes;
  n.buckets = host.buckets;
  n.encoding = host.encoding;
  for (const HostParameter& p : host.parameters) {
    if (p.name == "full") {
      if (p.rows >= Index{detail::kNoRow}) {
        throw InvalidArgument("cuda::DheTable: a full table of 2^32 - 1 rows or more");
      }
      n.full = DeviceRows(p.rows, p.width, p.values, p.lr_scale);
      continue;
    }
    DenseParameter& param = (p.optimized ? n.trained : n.running).emplace_back();
    param.name = p.name;
    param.rows = p.rows;
    param.width = p.width;
    param.lr_scale = p.lr_scale;
    param.values = DeviceArray<float>::from({p.values, static_cast<std::size_t>(p.rows * p.width)});
    if (p.optimized) param.gradient = DeviceArray<float>(static_cast<std::size_t>(param.size()));
  }
  std::vector<Index> full_base(fields, -1);
  for (std::size_t f = 0; f < fields; ++f) {
    if (host.field_hashes[f].empty()) {
      full_base[f] = host.full_base[f];
      continue;
    }
    if (static_cast<Index>(host.field_hashes[f].size()) != host.hashes) {
      throw InvalidArgument("cuda::DheTable: field " + std::to_string(f) + " has " +
                            std::to_string(host.field_hashes[f].size()) + " hashes, not k");
    }
    Networks::Network& net = n.nets.emplace_back();
    net.field = static_cast<Index>(f);
    net.hashes = DeviceArray<kernels::UniversalHash>::from(host.field_hashes[f]);
    const std::string prefix = "field" + std::to_string(f);
    for (Index l = 0;; ++l) {
      const std::string layer = prefix + ".layer" + std::to_string(l);
      net.linears.emplace_back(n.at(layer + ".weight"), &n.at(layer + ".bias"));
      const std::string norm = prefix + ".norm" + std::to_string(l);
      if (n.find(norm + ".gamma") == nullptr) break;
      net.norms.emplace_back(n.at(norm + ".gamma"), n.at(norm + ".beta"), n.at(norm + ".running"));
      net.activations.emplace_back(ActivationLayer::Kind::mish);
    }
    if (net.linears.front().in() != host.hashes || net.linears.back().out() != dim_) {
      throw InvalidArgument("cuda::DheTable: field " + std::to_string(f) +
                            "'s network does not map k values to d");
    }
  }
  if (n.full.rows == 0 &&
      std::any_of(full_base.begin(), full_base.end(), [](Index b) { return b >= 0; })) {
    throw InvalidArgument("cuda::DheTable: a field without a network and no 'full' table");
  }
  n.full_base = DeviceArray<Index>::from(full_base);
}

DheTable::DheTable(DheTable&&) noexcept = default;
DheTable& DheTable::operator=(DheTable&&) noexcept = default;
DheTable::~DheTable() = default;

void DheTable::embed(const DeviceIds& ids, float* out, bool batch_statistics,
                     bool update_running) const {
  check_batch(ids);
  reset_flags();
  Networks& n = *networks_;
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::launch(ids.size(), detail::dhe_rows_kernel, batch,
                 static_cast<const Index*>(n.full_base.data()), static_cast<const float*>(nullptr),
                 dim_, static_cast<detail::RowKey*>(nullptr),
                 static_cast<detail::Position*>(nullptr), &flags()[1]);
  throw_on_flags(ids, dim_);  // before anything is normalised
  n.run(ids, dim_, out, batch_statistics, update_running);
  detail::launch(ids.size() * dim_, detail::dhe_full_lookup_kernel, ids.ids, ids.size(), ids.fields,
                 static_cast<const Index*>(n.full_base.data()),
                 static_cast<const float*>(n.full.values.data()), dim_, out);
}

void DheTable::lookup(const DeviceIds& ids, float* out) const {
  networks_->forwarded_ids = nullptr;  // the layers' caches will hold this evaluation
  embed(ids, out, /*batch_statistics=*/false, /*update_running=*/false);
}

void DheTable::forward(const DeviceIds& ids, float* out) {
  networks_->forwarded_ids = nullptr;
  embed(ids, out, /*batch_statistics=*/ids.batch > 1, /*update_running=*/true);
  networks_->forwarded_ids = ids.ids;
  networks_->forwarded_batch = ids.batch;
}

void DheTable::train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  Networks& n = *networks_;
  const Index count = ids.size();
  const auto size = static_cast<std::size_t>(count);
  n.keys.reserve(size);
  n.sorted_keys.reserve(size);
  n.positions.reserve(size);
  n.sorted_positions.reserve(size);
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::dhe_rows_kernel, batch,
                 static_cast<const Index*>(n.full_base.data()), dE, dim_, n.keys.data(),
                 n.positions.data(), &flags()[1]);
  throw_on_flags(ids, dim_);
  if (n.forwarded_ids != ids.ids || n.forwarded_batch != ids.batch) {
    n.run(ids, dim_, nullptr, ids.batch > 1, /*update_running=*/false);
  }
  n.forwarded_ids = nullptr;  // the layers' caches are used up
  n.backward(ids, dim_, dE);
  detail::check_finite_gradients(n.trained, n.first_bad, "cuda::DheTable (" + method_ + ")");
  const std::uint64_t step = steps_ + 1;
  for (DenseParameter& p : n.trained) detail::dense_step(p, optimizer, step);
  if (n.full.rows > 0) {
    detail::sort_pairs(library_scratch_, n.keys.data(), n.sorted_keys.data(), n.positions.data(),
                       n.sorted_positions.data(), count, 32);
    detail::with_any_rule(optimizer, [&](const auto& rule) {
      detail::launch_runs_update(n.sorted_keys.data(), n.sorted_positions.data(), count, dim_,
                                 detail::GatherContribution{dE, dim_}, n.full.values.data(),
                                 n.full.state.data(), rule,
                                 rule.coefficients(optimizer.learning_rate * n.full.lr_scale, step),
                                 n.row_gradients, flags());
    });
  }
  steps_ = step;
}

std::vector<float> DheTable::rows_to_host(const std::string& parameter) const {
  if (parameter == "full" && networks_->full.rows > 0) return networks_->full.values.to_host();
  return networks_->at(parameter).values.to_host();
}

DeviceTable::StateSpan DheTable::state_span(const std::string& parameter) const {
  const Networks& n = *networks_;
  if (parameter == "full" && n.full.rows > 0) return span_of(n.full.state, n.full.state_slots);
  const DenseParameter& p = networks_->at(parameter);
  return span_of(p.state, p.state_slots);
}

void DheTable::ensure_state(const DeviceOptimizer& optimizer) {
  const std::string owner = "cuda::DheTable (" + method_ + ")";
  for (DenseParameter& p : networks_->trained) detail::ensure_dense_state(p, optimizer, owner);
  if (networks_->full.rows > 0) networks_->full.ensure_state(optimizer, owner, true);
}

}  // namespace embcomp::cuda
