// QrTable (cuda/include/embcomp/cuda/qr_table.hpp): the kernels and their driver. The same
// source builds under nvcc and, in host mode, as C++ against the shim (host/).
#include "embcomp/cuda/qr_table.hpp"

#include <string>

#include "backend.cuh"
#include "embcomp/core/error.hpp"
#include "primitives.cuh"
#include "sparse_update.cuh"

namespace embcomp::cuda {
namespace detail {

using kernels::QrOp;

/// Sort keys of the three tables by position: the quotient and remainder row of a compressed
/// field's id, or the full row; kNoRow for the tables a position does not read (all three for
/// a bad id, which is recorded). dE row p is checked too.
EMBCOMP_KERNEL void qr_rows_kernel(BatchIds batch, const kernels::QrField* fields, Index c,
                                   const float* dE, Index d, RowKey* quotient_keys,
                                   RowKey* remainder_keys, RowKey* full_keys, Position* positions,
                                   unsigned long long* bad_value_index) {
  for (Index p = thread_index(); p < batch.count; p += thread_count()) {
    check_finite_row(dE, p, d, bad_value_index);
    positions[p] = static_cast<Position>(p);
    quotient_keys[p] = remainder_keys[p] = full_keys[p] = kNoRow;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const kernels::QrField& f = fields[p % batch.fields];
    if (f.compressed) {
      quotient_keys[p] = static_cast<RowKey>(kernels::qr_quotient_row(f, id, c));
      remainder_keys[p] = static_cast<RowKey>(kernels::qr_remainder_row(f, id, c));
    } else {
      full_keys[p] = static_cast<RowKey>(f.full_base + id);
    }
  }
}

/// One thread per output element: the combination of the id's rows, or its full row.
template <QrOp Op>
EMBCOMP_KERNEL void qr_lookup_kernel(BatchIds batch, const kernels::QrField* fields, Index c,
                                     Index d, const float* quotient, const float* remainder,
                                     const float* full, float* out) {
  const Index wq = kernels::qr_quotient_width(Op, d), wr = kernels::qr_remainder_width(Op, d);
  for (Index i = thread_index(); i < batch.count * d; i += thread_count()) {
    const Index p = i / d;
    const Index k = i - p * d;
    const Index id = batch.checked_id(p);
    if (id < 0) continue;
    const kernels::QrField& f = fields[p % batch.fields];
    out[i] = f.compressed ? kernels::qr_combine_element<Op>(
                                quotient + kernels::qr_quotient_row(f, id, c) * wq,
                                remainder + kernels::qr_remainder_row(f, id, c) * wr, k, d)
                          : full[(f.full_base + id) * d + k];
  }
}

/// dL/dq of position p, column k: reads the position's remainder row.
template <QrOp Op>
struct QuotientContribution {
  const float* dE;
  Index d;
  const float* remainder;
  Index wr;
  const RowKey* remainder_rows;  ///< by position
  EMBCOMP_DEVICE float operator()(Position p, Index k) const {
    return kernels::qr_grad_quotient_element<Op>(dE + p * d, remainder + remainder_rows[p] * wr, k);
  }
};

/// dL/dr of position p, column k: reads the position's quotient row.
template <QrOp Op>
struct RemainderContribution {
  const float* dE;
  Index d;
  const float* quotient;
  Index wq;
  const RowKey* quotient_rows;  ///< by position
  EMBCOMP_DEVICE float operator()(Position p, Index k) const {
    return kernels::qr_grad_remainder_element<Op>(dE + p * d, quotient + quotient_rows[p] * wq, k,
                                                  d);
  }
};

/// fn(std::integral_constant<QrOp, op>).
template <class Fn>
void with_op(QrOp op, Fn&& fn) {
  switch (op) {
    case QrOp::mul:
      fn(std::integral_constant<QrOp, QrOp::mul>{});
      return;
    case QrOp::add:
      fn(std::integral_constant<QrOp, QrOp::add>{});
      return;
    case QrOp::concat:
      fn(std::integral_constant<QrOp, QrOp::concat>{});
      return;
  }
}

}  // namespace detail

namespace {

DeviceRows device_part(const QrTable::HostPart& part) {
  if (part.rows == 0) return {};
  return DeviceRows(part.rows, part.width, part.values, part.lr_scale);
}

}  // namespace

QrTable::QrTable(std::string method, std::vector<Index> cardinalities, const HostTables& host)
    : DeviceTable(std::move(method), std::move(cardinalities)),
      op_(host.op),
      collisions_(host.collisions),
      dim_(host.dim) {
  if (host.fields.size() != cardinalities_.size() || dim_ <= 0 || collisions_ < 1) {
    throw InvalidArgument("cuda::QrTable: " + std::to_string(host.fields.size()) +
                          " field layouts for " + std::to_string(cardinalities_.size()) +
                          " fields, d = " + std::to_string(dim_) +
                          ", c = " + std::to_string(collisions_));
  }
  for (const HostPart* part : {&host.quotient, &host.remainder, &host.full}) {
    if (part->rows >= Index{detail::kNoRow} || (part->rows > 0 && part->values == nullptr)) {
      throw InvalidArgument("cuda::QrTable: a table of " + std::to_string(part->rows) +
                            " rows (below 2^32 - 1, values given)");
    }
  }
  fields_ = DeviceArray<kernels::QrField>::from(host.fields);
  quotient_ = device_part(host.quotient);
  remainder_ = device_part(host.remainder);
  full_ = device_part(host.full);
}

void QrTable::lookup(const DeviceIds& ids, float* out) const {
  check_batch(ids);
  reset_flags();
  const detail::BatchIds batch{ids.ids, ids.size(), ids.fields, field_sizes(), &flags()[0]};
  detail::with_op(op_, [&](auto op) {
    detail::launch(ids.size() * dim_, detail::qr_lookup_kernel<decltype(op)::value>, batch,
                   fields_.data(), collisions_, dim_, quotient_.values.data(),
                   remainder_.values.data(), full_.values.data(), out);
  });
  throw_on_flags(ids, dim_);
}

template <kernels::QrOp Op, class Rule>
void QrTable::update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE) {
  const unsigned long long* flags = this->flags();
  const auto k = [&](const DeviceRows& part) {
    return rule.coefficients(lr * part.lr_scale, step);
  };
  if (quotient_.rows > 0) {
    const Index wq = quotient_.width, wr = remainder_.width;
    // 1. The remainder's gradients, from the quotient rows before the step, into a buffer.
    remainder_gradients_.reserve(static_cast<std::size_t>(count * wr));
    const detail::RemainderContribution<Op> to_remainder{dE, dim_, quotient_.values.data(), wq,
                                                         keys_[0].data()};
    detail::launch(count * wr, detail::update_runs_kernel<Rule, detail::RemainderContribution<Op>>,
                   sorted_keys_[1].data(), sorted_positions_[1].data(), count, wr, to_remainder,
                   remainder_.values.data(), remainder_.state.data(), rule, k(remainder_),
                   remainder_gradients_.data(), flags, detail::AsSummed{});
    // 2. The quotient (fused, or by rows for a row rule): its gradients read the remainder
    //    rows, not yet updated.
    const detail::QuotientContribution<Op> to_quotient{dE, dim_, remainder_.values.data(), wr,
                                                       keys_[1].data()};
    detail::launch_runs_update(sorted_keys_[0].data(), sorted_positions_[0].data(), count, wq,
                               to_quotient, quotient_.values.data(), quotient_.state.data(), rule,
                               k(quotient_), row_gradients_, flags);
    // 3. The remainder from its buffered gradients.
    detail::launch_buffered_apply(sorted_keys_[1].data(), count, wr, remainder_gradients_.data(),
                                  remainder_.values.data(), remainder_.state.data(), rule,
                                  k(remainder_), flags);
  }
  if (full_.rows > 0) {
    detail::launch_runs_update(sorted_keys_[2].data(), sorted_positions_[2].data(), count, dim_,
                               detail::GatherContribution{dE, dim_}, full_.values.data(),
                               full_.state.data(), rule, k(full_), row_gradients_, flags);
  }
}

void QrTable::train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) {
  check_batch(ids);
  ensure_state(optimizer);
  const Index count = ids.size();
  const auto n = static_cast<std::size_t>(count);
  positions_.reserve(n);
  for (int t = 0; t < 3; ++t) {
    keys_[t].reserve(n);
    sorted_keys_[t].reserve(n);
    sorted_positions_[t].reserve(n);
  }
  reset_flags();
  const detail::BatchIds batch{ids.ids, count, ids.fields, field_sizes(), &flags()[0]};
  detail::launch(count, detail::qr_rows_kernel, batch, fields_.data(), collisions_, dE, dim_,
                 keys_[0].data(), keys_[1].data(), keys_[2].data(), positions_.data(), &flags()[1]);
  for (int t = 0; t < 3; ++t) {
    // Every bit: kNoRow must sort after every row.
    detail::sort_pairs(library_scratch_, keys_[t].data(), sorted_keys_[t].data(), positions_.data(),
                       sorted_positions_[t].data(), count, 32);
  }
  const std::uint64_t step = steps_ + 1;
  detail::with_any_rule(optimizer, [&](const auto& rule) {
    detail::with_op(op_, [&](auto op) {
      update<decltype(op)::value>(rule, optimizer.learning_rate, step, count, dE);
    });
  });
  throw_on_flags(ids, dim_);
  steps_ = step;
}

const DeviceRows& QrTable::part(const std::string& parameter) const {
  if (parameter == "quotient") return quotient_;
  if (parameter == "remainder") return remainder_;
  if (parameter == "full") return full_;
  throw InvalidArgument("cuda::QrTable: no table '" + parameter +
                        "' (quotient, remainder or full)");
}

std::vector<float> QrTable::rows_to_host(const std::string& parameter) const {
  const DeviceRows& rows = part(parameter);
  return rows.rows > 0 ? rows.values.to_host() : std::vector<float>{};
}

void QrTable::ensure_state(const DeviceOptimizer& optimizer) {
  for (DeviceRows* part : {&quotient_, &remainder_, &full_}) {
    if (part->rows > 0) part->ensure_state(optimizer, "cuda::QrTable (" + method_ + ")", true);
  }
}

DeviceTable::StateSpan QrTable::state_span(const std::string& parameter) const {
  const DeviceRows& rows = part(parameter);
  return span_of(rows.state, rows.state_slots);
}

}  // namespace embcomp::cuda
