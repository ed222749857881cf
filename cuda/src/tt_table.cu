// TtTable (cuda/include/embcomp/cuda/tt_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/tt_table.hpp"

#include <string>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

using kernels::TtRoute;
using kernels::TtShape;

/// What the kernels need to route a position (device pointers; kernels::tt_route).
struct TtRouting {
  const kernels::TtLayout* tables;
  bool shared;
  const Index* offsets;
  const Index* cache_keys;
  Index cached;

  EMBCOMP_DEVICE TtRoute route(Index field, Index id) const {
    return kernels::tt_route(tables, shared, offsets, cache_keys, cached, field, id);
  }
};

/// The stacked parameters' values.
struct TtValues {
  const float* core[3];
  const float* full;
  const float* cache;
};

/// Element e = (a d1 + b) d2 + c of the embedding of core rows g0, g1, g2, in the CPU's order:
/// for each r2, T[a b, r2] = the sum over r1 of G0[a, r1] G1[r1, b, r2] (tt_first_product), then
/// out += T[a b, r2] G2[r2, c] (tt_second_product).
EMBCOMP_DEVICE float tt_element(const TtShape& s, const float* g0, const float* g1, const float* g2,
                                Index e) {
  const Index R = s.rank, d1 = s.dims[1], d2 = s.dims[2], wide = d1 * R;
  const Index ab = e / d2, c = e - ab * d2;
  const Index a = ab / d1, b = ab - a * d1;
  float out = 0.0f;
  for (Index r2 = 0; r2 < R; ++r2) {
    float t = 0.0f;
    for (Index r1 = 0; r1 < R; ++r1) t += g0[a * R + r1] * g1[r1 * wide + b * R + r2];
    out += t * g2[r2 * d2 + c];
  }
  return out;
}

/// One thread per output element: the contraction of the id's core rows, or its full or cache
/// row.
EMBCOMP_KERNEL void tt_lookup_kernel(BatchIds batch, TtRouting routing, TtShape shape,
                                     TtValues values, Index d, float* out) {
  for (Index i = thread_index(); i < batch.count * d; i += thread_count()) {
    const Index p = i / d;
    const Index e = i - p * d;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const TtRoute r = routing.route(p % batch.fields, id);
    if (r.via == TtRoute::Via::cores) {
      out[i] = tt_element(shape, values.core[0] + r.rows[0] * shape.width(0),
                          values.core[1] + r.rows[1] * shape.width(1),
                          values.core[2] + r.rows[2] * shape.width(2), e);
    } else {
      out[i] = (r.via == TtRoute::Via::full ? values.full : values.cache)[r.rows[0] * d + e];
    }
  }
}

/// Sort keys by position for core0, core1, core2, full and cache (kNoRow where the position
/// reads none; all five for a bad id, which is recorded). dE row p is checked too.
EMBCOMP_KERNEL void tt_rows_kernel(BatchIds batch, TtRouting routing, const float* dE, Index d,
                                   RowKey* core0, RowKey* core1, RowKey* core2, RowKey* full,
                                   RowKey* cache, Position* positions,
                                   unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    core0[p] = core1[p] = core2[p] = full[p] = cache[p] = kNoRow;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const TtRoute r = routing.route(p % batch.fields, id);
    if (r.via == TtRoute::Via::cores) {
      core0[p] = static_cast<RowKey>(r.rows[0]);
      core1[p] = static_cast<RowKey>(r.rows[1]);
      core2[p] = static_cast<RowKey>(r.rows[2]);
    } else {
      (r.via == TtRoute::Via::full ? full : cache)[p] = static_cast<RowKey>(r.rows[0]);
    }
  }
}

/// Per position reading cores, one thread per (position, element of T [d0 d1 x R]):
/// T[a][k] = the sum over r1 of G0[a, r1] G1[r1][k] (tt_first_product's order).
EMBCOMP_KERNEL void tt_t_kernel(Index count, TtShape s, const RowKey* core0, const RowKey* core1,
                                const float* g0s, const float* g1s, float* t,
                                const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index width = s.scratch(), R = s.rank, wide = s.dims[1] * R;
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index p = i / width;
    if (core0[p] == kNoRow) continue;
    const Index e = i - p * width;
    const Index a = e / wide, k = e - a * wide;
    const float* g0 = g0s + static_cast<Index>(core0[p]) * s.width(0);
    const float* g1 = g1s + static_cast<Index>(core1[p]) * s.width(1);
    float sum = 0.0f;
    for (Index r1 = 0; r1 < R; ++r1) sum += g0[a * R + r1] * g1[r1 * wide + k];
    t[i] = sum;
  }
}

/// One thread per (position, element of dT [d0 d1 x R]): dT[ab][r2] = the sum over c of
/// g[ab d2 + c] G2[r2, c] (tt_grad_t's order).
EMBCOMP_KERNEL void tt_dt_kernel(Index count, TtShape s, const RowKey* core0, const RowKey* core2,
                                 const float* g2s, const float* dE, Index d, float* dt,
                                 const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index width = s.scratch(), R = s.rank, d2 = s.dims[2];
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index p = i / width;
    if (core0[p] == kNoRow) continue;
    const Index e = i - p * width;
    const Index ab = e / R, r2 = e - ab * R;
    const float* g = dE + p * d;
    const float* g2 = g2s + static_cast<Index>(core2[p]) * s.width(2);
    float sum = 0.0f;
    for (Index c = 0; c < d2; ++c) sum += g[ab * d2 + c] * g2[r2 * d2 + c];
    dt[i] = sum;
  }
}

/// One thread per (position, element of its dG2 row [R x d2]): the sum over ab of
/// T[ab, r2] g[ab d2 + c] (tt_add_grad_g2's order, from 0).
EMBCOMP_KERNEL void tt_grad2_kernel(Index count, TtShape s, const RowKey* core0, const float* t,
                                    const float* dE, Index d, float* grad2,
                                    const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index width = s.width(2), R = s.rank, d2 = s.dims[2], ts = s.scratch();
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index p = i / width;
    if (core0[p] == kNoRow) continue;
    const Index e = i - p * width;
    const Index r2 = e / d2, c = e - r2 * d2;
    const float* tp = t + p * ts;
    const float* g = dE + p * d;
    float sum = 0.0f;
    for (Index ab = 0; ab < s.dims[0] * s.dims[1]; ++ab) sum += tp[ab * R + r2] * g[ab * d2 + c];
    grad2[i] = sum;
  }
}

/// One thread per (position, element of its dG0 row [d0 x R]): 0 + the sum over k of
/// dT[a][k] G1[r1][k] (tt_add_grad_g0's order: the sum, added to a zeroed row).
EMBCOMP_KERNEL void tt_grad0_kernel(Index count, TtShape s, const RowKey* core0,
                                    const RowKey* core1, const float* g1s, const float* dt,
                                    float* grad0, const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index width = s.width(0), R = s.rank, wide = s.dims[1] * R, ts = s.scratch();
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index p = i / width;
    if (core0[p] == kNoRow) continue;
    const Index e = i - p * width;
    const Index a = e / R, r1 = e - a * R;
    const float* dta = dt + p * ts + a * wide;
    const float* row = g1s + static_cast<Index>(core1[p]) * s.width(1) + r1 * wide;
    float sum = 0.0f;
    for (Index k = 0; k < wide; ++k) sum += dta[k] * row[k];
    grad0[i] = 0.0f + sum;
  }
}

/// One thread per (sorted position, element (r1, k) of a core1 row); the run head sums
/// G0[a, r1] dT[a][k] over its positions and, within each, over a, into one sum (the order of
/// tt_add_grad_g1 accumulating into a zeroed row), into buffered[head][r1 wide + k]. It reads
/// the core0 rows before the step.
EMBCOMP_KERNEL void tt_core1_runs_kernel(const RowKey* sorted_rows,
                                         const Position* sorted_positions, Index count, TtShape s,
                                         const RowKey* core0, const float* g0s, const float* dt,
                                         float* buffered, const unsigned long long* flags) {
  if (input_refused(flags)) return;
  const Index width = s.width(1), R = s.rank, wide = s.dims[1] * R, ts = s.scratch();
  for (Index i = thread_index(); i < count * width; i += thread_count()) {
    const Index head = i / width;
    const RowKey key = sorted_rows[head];
    if (key == kNoRow) return;
    if (!starts_run(sorted_rows, head)) continue;
    const Index e = i - head * width;
    const Index r1 = e / wide, k = e - r1 * wide;
    float acc = 0.0f;
    for (Index j = head; j < count && sorted_rows[j] == key; ++j) {
      const Position p = sorted_positions[j];
      const float* g0 = g0s + static_cast<Index>(core0[p]) * s.width(0);
      for (Index a = 0; a < s.dims[0]; ++a) acc += g0[a * R + r1] * dt[p * ts + a * wide + k];
    }
    buffered[i] = acc;
  }
}

/// The contribution of position p to column c of its row: its own gradient row (grad0, grad2).
struct PositionRows {
  const float* rows;
  Index width;
  EMBCOMP_DEVICE float operator()(Position p, Index c) const { return rows[p * width + c]; }
};

}  // namespace detail

namespace {

DeviceRows device_part(const TtTable::HostTables::Part& part) {
  if (part.rows == 0) return {};
  return DeviceRows(part.rows, part.width, part.values, part.lr_scale);
}

}  // namespace

TtTable::TtTable(std::string method, std::vector<Index> cardinalities, const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      dim_(host.dim),
      shared_(host.shared),
      shape_(host.shape) {
  const std::size_t tables = shared_ ? 1 : cardinalities_.size();
  if (host.tables.size() != tables || host.offsets.size() != cardinalities_.size() || dim_ <= 0 ||
      (host.cores[0].rows > 0 && shape_.dim() != dim_)) {
    throw InvalidArgument("cuda::TtTable: " + std::to_string(host.tables.size()) + " tables and " +
                          std::to_string(host.offsets.size()) + " field offsets for " +
                          std::to_string(cardinalities_.size()) +
                          " fields, d = " + std::to_string(dim_));
  }
  for (const HostTables::Part* part :
       {&host.cores[0], &host.cores[1], &host.cores[2], &host.full, &host.cache}) {
    if (part->rows >= Index{detail::kNoRow} || (part->rows > 0 && part->values == nullptr)) {
      throw InvalidArgument("cuda::TtTable: a table of " + std::to_string(part->rows) +
                            " rows (below 2^32 - 1, values given)");
    }
  }
  if (static_cast<Index>(host.cache_keys.size()) != host.cache.rows) {
    throw InvalidArgument("cuda::TtTable: " + std::to_string(host.cache_keys.size()) +
                          " cached keys for " + std::to_string(host.cache.rows) + " cached rows");
  }
  tables_ = DeviceArray<kernels::TtLayout>::from(host.tables);
  offsets_ = DeviceArray<Index>::from(host.offsets);
  cache_keys_ = DeviceArray<Index>::from(host.cache_keys);
  cached_ = static_cast<Index>(host.cache_keys.size());
  for (int c = 0; c < 3; ++c) cores_[c] = device_part(host.cores[c]);
  full_ = device_part(host.full);
  cache_ = device_part(host.cache);
}

namespace {

detail::TtRouting routing_of(const DeviceArray<kernels::TtLayout>& tables, bool shared,
                             const DeviceArray<Index>& offsets,
                             const DeviceArray<Index>& cache_keys, Index cached) {
  return {tables.data(), shared, offsets.data(), cache_keys.data(), cached};
}

}  // namespace

void TtTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  const detail::TtValues values{
      {cores_[0].values.data(), cores_[1].values.data(), cores_[2].values.data()},
      full_.values.data(),
      cache_.values.data()};
  detail::launch(ids.size() * dim_, detail::tt_lookup_kernel, batch,
                 routing_of(tables_, shared_, offsets_, cache_keys_, cached_), shape_, values, dim_,
                 out);
  throw_on_flags(ids, dim_);
}

template <class Rule>
void TtTable::update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE) {
  const unsigned long long* flags = this->flags();
  const auto k = [&](const DeviceRows& part) {
    return rule.coefficients(lr * part.lr_scale, step);
  };
  if (cores_[0].rows > 0) {
    const auto n = static_cast<std::size_t>(count);
    const Index w0 = shape_.width(0), w1 = shape_.width(1), w2 = shape_.width(2);
    const Index ts = shape_.scratch();
    t_.reserve(n * static_cast<std::size_t>(ts));
    dt_.reserve(n * static_cast<std::size_t>(ts));
    grad0_.reserve(n * static_cast<std::size_t>(w0));
    grad2_.reserve(n * static_cast<std::size_t>(w2));
    core1_gradients_.reserve(n * static_cast<std::size_t>(w1));
    const float* g0 = cores_[0].values.data();
    const float* g1 = cores_[1].values.data();
    const float* g2 = cores_[2].values.data();
    // 1. Every position's T, dT, dG2 and dG0 rows, and core1's run gradients: all from the
    //    cores before the step.
    detail::launch(count * ts, detail::tt_t_kernel, count, shape_, keys_[0].data(), keys_[1].data(),
                   g0, g1, t_.data(), flags);
    detail::launch(count * ts, detail::tt_dt_kernel, count, shape_, keys_[0].data(),
                   keys_[2].data(), g2, dE, dim_, dt_.data(), flags);
    detail::launch(count * w2, detail::tt_grad2_kernel, count, shape_, keys_[0].data(),
                   static_cast<const float*>(t_.data()), dE, dim_, grad2_.data(), flags);
    detail::launch(count * w0, detail::tt_grad0_kernel, count, shape_, keys_[0].data(),
                   keys_[1].data(), g1, static_cast<const float*>(dt_.data()), grad0_.data(),
                   flags);
    detail::launch(count * w1, detail::tt_core1_runs_kernel, sorted_keys_[1].data(),
                   sorted_positions_[1].data(), count, shape_, keys_[0].data(), g0,
                   static_cast<const float*>(dt_.data()), core1_gradients_.data(), flags);
    // 2. The cores.
    detail::launch_buffered_apply(sorted_keys_[1].data(), count, w1, core1_gradients_.data(),
                                  cores_[1].values.data(), cores_[1].state.data(), rule,
                                  k(cores_[1]), flags);
    detail::launch_runs_update(sorted_keys_[0].data(), sorted_positions_[0].data(), count, w0,
                               detail::PositionRows{grad0_.data(), w0}, cores_[0].values.data(),
                               cores_[0].state.data(), rule, k(cores_[0]), row_gradients_, flags);
    detail::launch_runs_update(sorted_keys_[2].data(), sorted_positions_[2].data(), count, w2,
                               detail::PositionRows{grad2_.data(), w2}, cores_[2].values.data(),
                               cores_[2].state.data(), rule, k(cores_[2]), row_gradients_, flags);
  }
  for (const auto& [sort, rows] : {std::pair<int, DeviceRows*>{3, &full_}, {4, &cache_}}) {
    if (rows->rows == 0) continue;
    detail::launch_runs_update(sorted_keys_[sort].data(), sorted_positions_[sort].data(), count,
                               dim_, detail::GatherContribution{dE, dim_}, rows->values.data(),
                               rows->state.data(), rule, k(*rows), row_gradients_, flags);
  }
}

void TtTable::train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  const Index count = ids.size();
  const auto n = static_cast<std::size_t>(count);
  positions_.reserve(n);
  for (int t = 0; t < kSorts; ++t) {
    keys_[t].reserve(n);
    sorted_keys_[t].reserve(n);
    sorted_positions_[t].reserve(n);
  }
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::tt_rows_kernel, batch,
                 routing_of(tables_, shared_, offsets_, cache_keys_, cached_), dE, dim_,
                 keys_[0].data(), keys_[1].data(), keys_[2].data(), keys_[3].data(),
                 keys_[4].data(), positions_.data(), &flags()[1]);
  for (int t = 0; t < kSorts; ++t) {
    // Every bit: kNoRow must sort after every row.
    detail::sort_pairs(library_scratch_, keys_[t].data(), sorted_keys_[t].data(), positions_.data(),
                       sorted_positions_[t].data(), count, 32);
  }
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(
      optimizer, [&](const auto& rule) { update(rule, optimizer.learning_rate, step, count, dE); });
  throw_on_flags(ids, dim_);
  steps_ = step;
}

const DeviceRows& TtTable::part(const std::string& parameter) const {
  for (int c = 0; c < 3; ++c) {
    if (parameter == "core" + std::to_string(c)) return cores_[c];
  }
  if (parameter == "full") return full_;
  if (parameter == "cache") return cache_;
  throw InvalidArgument("cuda::TtTable: no parameter '" + parameter +
                        "' (core0, core1, core2, full or cache)");
}

std::vector<std::string> TtTable::parameter_names() const {
  std::vector<std::string> names;
  for (const char* name : {"core0", "core1", "core2", "full", "cache"}) {
    if (part(name).rows > 0) names.emplace_back(name);
  }
  return names;
}

std::vector<float> TtTable::rows_to_host(const std::string& parameter) const {
  const DeviceRows& rows = part(parameter);
  return rows.rows > 0 ? rows.values.to_host() : std::vector<float>{};
}

void TtTable::ensure_state(const DeviceOptimizer& optimizer) {
  for (DeviceRows* rows : {&cores_[0], &cores_[1], &cores_[2], &full_, &cache_}) {
    if (rows->rows > 0) rows->ensure_state(optimizer, "cuda::TtTable (" + method_ + ")", true);
  }
}

DeviceTable::StateSpan TtTable::state_span(const std::string& parameter) const {
  const DeviceRows& rows = part(parameter);
  return span_of(rows.state, rows.state_slots);
}

}  // namespace embcomp::cuda
