// EmbeddingTable: the checks done once per batch, memory accounting and parameter bookkeeping.
#include "embcomp/table.hpp"

#include <string>

#include "embcomp/optim/optimizer.hpp"

namespace embcomp {

void validate_ids(const IdBatch& ids, const Schema& schema) {
  if (ids.fields != schema.num_fields()) {
    throw InvalidArgument("ids have " + std::to_string(ids.fields) + " fields per sample; the "
                          "schema has " + std::to_string(schema.num_fields()));
  }
  if (ids.batch < 0 || (ids.batch > 0 && ids.ids == nullptr)) {
    throw InvalidArgument("ids: batch size " + std::to_string(ids.batch) + " without id data");
  }
  const Index* cardinality = schema.cardinalities.data();
  for (Index b = 0; b < ids.batch; ++b) {
    const Index* sample = ids.ids + b * ids.fields;
    for (Index f = 0; f < ids.fields; ++f) {
      if (sample[f] < 0 || sample[f] >= cardinality[f]) {
        throw InvalidArgument("id " + std::to_string(sample[f]) + " at sample " +
                              std::to_string(b) + ", field " + std::to_string(f) +
                              " is out of range: field " + std::to_string(f) + " takes ids in [0, " +
                              std::to_string(cardinality[f]) + ")");
      }
    }
  }
}

static void validate_matrix(const char* what, const ConstMatrix& m, Index rows, Index cols) {
  if (m.rows != rows || m.cols != cols || (rows * cols > 0 && m.data == nullptr)) {
    throw InvalidArgument(std::string(what) + " is [" + std::to_string(m.rows) + " x " +
                          std::to_string(m.cols) + "], expected [" + std::to_string(rows) +
                          " x " + std::to_string(cols) + "] (B*F x d)");
  }
}

void require_budget(const std::string& method, double min_bytes, const TableArgs& args) {
  if (min_bytes > args.budget.bytes(args.schema)) throw_infeasible(method, min_bytes, args);
}

void throw_infeasible(const std::string& method, double min_bytes, const TableArgs& args) {
  const double limit = args.budget.bytes(args.schema);
  const double max_ratio = args.schema.full_bytes() / min_bytes;
  throw InfeasibleBudget(method + ": ratio " + std::to_string(args.budget.ratio) + "x allows " +
                             std::to_string(static_cast<long long>(limit)) +
                             " B, but its smallest form needs " +
                             std::to_string(static_cast<long long>(min_bytes)) +
                             " B; the highest ratio it reaches for this schema is " +
                             std::to_string(max_ratio) + "x",
                         max_ratio);
}

void EmbeddingTable::lookup(const IdBatch& ids, Matrix out) const {
  validate_ids(ids, schema());
  validate_matrix("lookup output", out, ids.size(), dim());
  lookup_impl(ids, out);
}

void EmbeddingTable::forward(const IdBatch& ids, Matrix out) {
  validate_ids(ids, schema());
  validate_matrix("forward output", out, ids.size(), dim());
  forward_impl(ids, out);
}

void EmbeddingTable::backward(const IdBatch& ids, ConstMatrix dE, Gradients& grads) {
  if (frozen_) {
    throw Error("backward on a frozen table ('" + spec_ + "'): serving forms are lookup-only");
  }
  validate_ids(ids, schema());
  validate_matrix("backward dE", dE, ids.size(), dim());
  grads.clear();
  backward_impl(ids, dE, grads);
}

std::vector<Parameter*> EmbeddingTable::parameters() {
  std::vector<Parameter*> out;
  for (auto& p : params_) out.push_back(&p);
  return out;
}

std::vector<const Parameter*> EmbeddingTable::parameters() const {
  std::vector<const Parameter*> out;
  for (const auto& p : params_) out.push_back(&p);
  return out;
}

MemoryReport EmbeddingTable::memory(const Optimizer* optimizer) const {
  MemoryReport report;
  report.full_bytes = schema().full_bytes();
  for (const auto& p : params_) {
    report.parameter_bytes += p.bytes();
    if (optimizer != nullptr) report.optimizer_bytes += optimizer->state_bytes(p);
  }
  report.index_bytes = index_bytes();
  report.serving_bytes = serving_bytes();
  return report;
}

std::size_t EmbeddingTable::serving_bytes() const {
  std::size_t bytes = index_bytes();
  for (const auto& p : params_) bytes += p.bytes();
  return bytes;
}

Parameter& EmbeddingTable::add_parameter(std::string name, Index rows, Index width,
                                         ParamKind kind, CodecSpec codec) {
  for (const auto& p : params_) {
    if (p.name() == name) throw std::logic_error("parameter '" + name + "' registered twice");
  }
  return params_.emplace_back(std::move(name), rows, width, kind, codec);
}

void EmbeddingTable::save_state(Writer& out) const {
  out.pod(static_cast<std::uint64_t>(params_.size()));
  for (const auto& p : params_) p.save(out);
}

void EmbeddingTable::load_state(Reader& in) {
  expect_equal(in, static_cast<std::uint64_t>(params_.size()), "parameter count");
  for (auto& p : params_) p.load(in);
}

}  // namespace embcomp
