// CafeTable (cuda/include/embcomp/cuda/cafe_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/). The routing
// (the CPU table's sketches) is in cafe_router.cpp, plain C++.
#include "embcomp/cuda/cafe_table.hpp"

#include <string>

#include "backend.cuh"
#include "cafe_router.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/kernels/norm.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

/// The extra hash levels of a batch (cafe-ml): per level its table and the row each position
/// reads (kNoRow where it reads none).
struct LevelRows {
  static constexpr int kMax = CafeRouter::kMaxExtraLevels;
  const float* values[kMax] = {};
  const RowKey* keys[kMax] = {};
  int count = 0;
};

/// Element c of position p's embedding: its primary row, plus each extra level's row, in level
/// order (the CPU's sum).
EMBCOMP_DEVICE float cafe_element(const float* primary, const RowKey* primary_keys,
                                  const LevelRows& levels, Index d, Index p, Index c) {
  float value = primary[static_cast<Index>(primary_keys[p]) * d + c];
  for (int l = 0; l < levels.count; ++l) {
    const RowKey row = levels.keys[l][p];
    if (row != kNoRow) value += levels.values[l][static_cast<Index>(row) * d + c];
  }
  return value;
}

/// One thread per output element.
EMBCOMP_KERNEL void cafe_lookup_kernel(const float* primary, const RowKey* primary_keys,
                                       LevelRows levels, Index count, Index d, float* out) {
  for (Index i = thread_index(); i < count * d; i += thread_count()) {
    const Index p = i / d;
    out[i] = cafe_element(primary, primary_keys, levels, d, p, i - p * d);
  }
}

/// norms[p] = ||dE_p|| (1 with importance=frequency), positions[p] = p, and dE row p checked.
EMBCOMP_KERNEL void cafe_norms_kernel(const float* dE, Index count, Index d, bool frequency,
                                      float* norms, Position* positions,
                                      unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < count; p += thread_count()) {
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    norms[p] = frequency ? 1.0f : kernels::l2_norm(dE + p * d, d);
  }
}

/// One thread per (promotion k, column c): the embedding of position sources[k], after the
/// update, into migration[k][c] (every source is read before any hot row is written).
EMBCOMP_KERNEL void cafe_read_promoted_kernel(const float* primary, const RowKey* primary_keys,
                                              LevelRows levels, const Position* sources,
                                              Index promotions, Index d, float* migration) {
  for (Index i = thread_index(); i < promotions * d; i += thread_count()) {
    const Index k = i / d;
    migration[i] = cafe_element(primary, primary_keys, levels, d, sources[k], i - k * d);
  }
}

/// One thread per (promotion k, column c): hot row destinations[k] (a flat row) = migration[k].
EMBCOMP_KERNEL void cafe_write_promoted_kernel(const float* migration, const Position* destinations,
                                               Index promotions, Index d, float* primary) {
  for (Index i = thread_index(); i < promotions * d; i += thread_count()) {
    const Index k = i / d;
    primary[static_cast<Index>(destinations[k]) * d + (i - k * d)] = migration[i];
  }
}

/// One thread per state column j < slots*d, through the promotions in order (as the CPU's
/// copy_state_row calls, so a row both written and read by them ends the same): the state row
/// of each source's primary row moves to its destination, unless they are the same row.
EMBCOMP_KERNEL void cafe_move_state_kernel(const RowKey* primary_keys, const Position* sources,
                                           const Position* destinations, Index promotions,
                                           Index state_width, float* state) {
  for (Index j = thread_index(); j < state_width; j += thread_count()) {
    for (Index k = 0; k < promotions; ++k) {
      const auto from = static_cast<Index>(primary_keys[sources[k]]);
      const auto to = static_cast<Index>(destinations[k]);
      if (from != to) state[to * state_width + j] = state[from * state_width + j];
    }
  }
}

}  // namespace detail

namespace {

/// "rows" and "hot" of `router` as one flat device table.
DeviceRows flat_primary(const detail::CafeRouter& router) {
  const auto& tables = router.tables();
  const bool has_hot = tables.size() > 1 && tables[1].name == "hot";
  if (has_hot && tables[1].lr_scale != tables[0].lr_scale) {
    throw InvalidArgument("cuda::CafeTable: 'rows' and 'hot' of '" + router.method() +
                          "' have different learning-rate scales");
  }
  const Index d = router.dim();
  std::vector<float> values(tables[0].values, tables[0].values + tables[0].rows * d);
  Index rows = tables[0].rows;
  if (has_hot) {
    values.insert(values.end(), tables[1].values, tables[1].values + tables[1].rows * d);
    rows += tables[1].rows;
  }
  if (rows >= Index{detail::kNoRow}) {
    throw InvalidArgument("cuda::CafeTable: " + std::to_string(rows) +
                          " rows and hot rows (below 2^32 - 1)");
  }
  return DeviceRows(rows, d, values.data(), tables[0].lr_scale);
}

}  // namespace

CafeTable::CafeTable(detail::CafeRouter router)
    : DeviceTable(router.method(), router.cardinalities()),
      router_(std::make_unique<detail::CafeRouter>(std::move(router))),
      primary_(flat_primary(*router_)) {
  const auto& tables = router_->tables();
  for (std::size_t t = tables.size() - static_cast<std::size_t>(router_->extra_levels());
       t < tables.size(); ++t) {
    levels_.emplace_back(tables[t].rows, router_->dim(), tables[t].values, tables[t].lr_scale);
  }
}

CafeTable CafeTable::mirror(EmbeddingTable& table) {
  return CafeTable(detail::CafeRouter(table));
}

CafeTable::~CafeTable() = default;
CafeTable::CafeTable(CafeTable&&) noexcept = default;
CafeTable& CafeTable::operator=(CafeTable&&) noexcept = default;

Index CafeTable::dim() const {
  return router_->dim();
}

void CafeTable::route(const DeviceIds& ids) const {
  check_batch(ids);
  const Index count = ids.size();
  host_ids_.resize(static_cast<std::size_t>(count));
  copy_to_host(host_ids_.data(), ids.ids, host_ids_.size() * sizeof(Index));
  const auto keys = static_cast<std::size_t>((1 + router_->extra_levels()) * count);
  host_keys_.resize(keys);
  router_->route(host_ids_.data(), ids.batch, ids.fields, host_keys_.data());
  keys_.reserve(keys);
  copy_to_device(keys_.data(), host_keys_.data(), keys * sizeof(std::uint32_t));
}

namespace {

/// The extra levels' tables and, for a batch of `count` positions, their keys in `keys`.
detail::LevelRows level_rows(const std::vector<DeviceRows>& levels, const std::uint32_t* keys,
                             Index count) {
  detail::LevelRows rows;
  rows.count = static_cast<int>(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l) {
    rows.values[l] = levels[l].values.data();
    rows.keys[l] = keys + (1 + static_cast<Index>(l)) * count;
  }
  return rows;
}

}  // namespace

void CafeTable::lookup(const DeviceIds& ids, float* out) const {
  route(ids);
  const Index count = ids.size(), d = dim();
  detail::launch(count * d, detail::cafe_lookup_kernel, primary_.values.data(), keys_.data(),
                 level_rows(levels_, keys_.data(), count), count, d, out);
}

template <class Rule>
void CafeTable::update(const Rule& rule, float lr, std::uint64_t step, Index count,
                       const float* dE) {
  const Index d = dim();
  const auto update_part = [&](DeviceRows& part, Index t) {
    detail::launch_runs_update(
        sorted_keys_.data() + t * count, sorted_positions_.data() + t * count, count, d,
        detail::GatherContribution{dE, d}, part.values.data(), part.state.data(), rule,
        rule.coefficients(lr * part.lr_scale, step), row_gradients_, flags());
  };
  update_part(primary_, 0);
  for (std::size_t l = 0; l < levels_.size(); ++l) {
    update_part(levels_[l], 1 + static_cast<Index>(l));
  }
}

template <class Rule>
void CafeTable::migrate(const Rule& /*rule*/, Index count) {
  const auto promotions = static_cast<Index>(sources_.size());
  if (promotions == 0) return;
  const Index d = dim();
  sources_.insert(sources_.end(), destinations_.begin(), destinations_.end());
  promotions_.reserve(sources_.size());
  promotions_.upload(sources_);
  const std::int32_t* sources = promotions_.data();
  const std::int32_t* destinations = promotions_.data() + promotions;
  migration_.reserve(static_cast<std::size_t>(promotions * d));
  detail::launch(promotions * d, detail::cafe_read_promoted_kernel, primary_.values.data(),
                 keys_.data(), level_rows(levels_, keys_.data(), count), sources, promotions, d,
                 migration_.data());
  detail::launch(promotions * d, detail::cafe_write_promoted_kernel, migration_.data(),
                 destinations, promotions, d, primary_.values.data());
  const Index state_width = kernels::row_state_width<Rule>(d, Rule::kRowWise);
  detail::launch(state_width, detail::cafe_move_state_kernel, keys_.data(), sources, destinations,
                 promotions, state_width, primary_.state.data());
}

void CafeTable::train_step(const DeviceIds& ids, const float* dE,
                           const DeviceOptimizer& optimizer) {
  ensure_state(optimizer);
  route(ids);  // checks the batch and its ids on the host
  const Index count = ids.size(), d = dim();
  const auto n = static_cast<std::size_t>(count);
  const auto tables = static_cast<std::size_t>(1 + levels_.size());
  sorted_keys_.reserve(tables * n);
  positions_.reserve(n);
  sorted_positions_.reserve(tables * n);
  norms_.reserve(n);
  reset_flags();
  detail::launch(count, detail::cafe_norms_kernel, dE, count, d, router_->frequency(),
                 norms_.data(), positions_.data(), &flags()[1]);
  for (std::size_t t = 0; t < tables; ++t) {
    // Every bit: kNoRow must sort after every row.
    detail::sort_pairs(library_scratch_, keys_.data() + t * n, sorted_keys_.data() + t * n,
                       positions_.data(), sorted_positions_.data() + t * n, count, 32);
  }
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(
      optimizer, [&](const auto& rule) { update(rule, optimizer.learning_rate, step, count, dE); });
  throw_on_flags(ids, d);
  steps_ = step;
  host_norms_.resize(n);
  copy_to_host(host_norms_.data(), norms_.data(), n * sizeof(float));
  router_->insert(host_norms_.data(), sources_, destinations_);
  detail::with_any_rule(optimizer, [&](const auto& rule) { migrate(rule, count); });
}

CafeTable::Part CafeTable::part(const std::string& parameter) const {
  Index first = 0;
  std::size_t level = 0;
  for (const detail::CafeRouter::Table& table : router_->tables()) {
    if (table.name.starts_with("level")) {
      if (table.name == parameter) return {&levels_[level], 0, table.rows};
      ++level;
    } else {
      if (table.name == parameter) return {&primary_, first, table.rows};
      first += table.rows;
    }
  }
  throw InvalidArgument("cuda::CafeTable: no table '" + parameter + "' (rows, hot, level<l>)");
}

std::vector<float> CafeTable::rows_to_host(const std::string& parameter) const {
  const Part p = part(parameter);
  const std::vector<float> all = p.table->values.to_host();
  const Index d = dim();
  return {all.begin() + p.first * d, all.begin() + (p.first + p.rows) * d};
}

void CafeTable::ensure_state(const DeviceOptimizer& optimizer) {
  const std::string owner = "cuda::CafeTable (" + method_ + ")";
  primary_.ensure_state(optimizer, owner, true);
  for (DeviceRows& level : levels_) level.ensure_state(optimizer, owner, true);
}

DeviceTable::StateSpan CafeTable::state_span(const std::string& parameter) const {
  const Part p = part(parameter);
  if (p.table->state_slots <= 0) return {};
  const auto width =
      p.table->state.size() / static_cast<std::size_t>(p.table->rows);  // slots, or slots x d
  return span_of(p.table->state, p.table->state_slots, static_cast<std::size_t>(p.first) * width,
                 static_cast<std::size_t>(p.rows) * width);
}

}  // namespace embcomp::cuda
