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
  if (frozen_ || finalized_) {
    throw Error("backward on a " + std::string(frozen_ ? "frozen" : "finalized") + " table ('" +
                spec_ + "'): serving forms are lookup-only");
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
    if (p.served()) report.serving_bytes += p.bytes();
    if (optimizer != nullptr) report.optimizer_bytes += optimizer->state_bytes(p);
  }
  for (const auto& index : indexes_) {
    const std::size_t bytes = index.state->bytes();
    report.index_bytes += bytes;
    if (index.served) report.serving_bytes += bytes;
  }
  return report;
}

void EmbeddingTable::begin_stage(std::size_t index, const StageContext& ctx) {
  const std::size_t count = stages().size();
  if (index >= count) {
    throw InvalidArgument("begin_stage: stage " + std::to_string(index) + " of a method with " +
                          std::to_string(count) + " stage(s)");
  }
  if (frozen_ || finalized_) {
    throw Error("begin_stage on a " + std::string(frozen_ ? "frozen" : "finalized") +
                " table ('" + spec_ + "')");
  }
  stage_ = index;
  on_begin_stage(index, ctx);
}

void EmbeddingTable::finalize() {
  if (finalized_ || frozen_) return;
  on_finalize();
  finalized_ = true;
}

Parameter& EmbeddingTable::add_parameter(std::string name, Index rows, Index width,
                                         ParamKind kind, CodecSpec codec, ParamTraits traits) {
  for (const auto& p : params_) {
    if (p.name() == name) throw std::logic_error("parameter '" + name + "' registered twice");
  }
  return params_.emplace_back(std::move(name), rows, width, kind, codec, traits);
}

void EmbeddingTable::register_index(std::string name, std::unique_ptr<IndexState> state,
                                    bool served) {
  for (const auto& index : indexes_) {
    if (index.name == name) throw std::logic_error("index '" + name + "' registered twice");
  }
  indexes_.push_back({std::move(name), std::move(state), served});
}

void EmbeddingTable::save_state(Writer& out) const {
  out.pod(static_cast<std::uint64_t>(stage_));
  out.pod(static_cast<std::uint8_t>(finalized_ ? 1 : 0));
  out.pod(static_cast<std::uint64_t>(params_.size()));
  for (const auto& p : params_) p.save(out);
  out.pod(static_cast<std::uint64_t>(indexes_.size()));
  for (const auto& index : indexes_) {
    out.string(index.name);
    index.state->save(out);
  }
}

void EmbeddingTable::load_state(Reader& in) {
  const auto stage = in.pod<std::uint64_t>();
  if (stage >= stages().size()) {
    throw CheckpointError("checkpoint does not match this table: stage " +
                          std::to_string(stage) + " of a method with " +
                          std::to_string(stages().size()) + " stage(s)");
  }
  const auto finalized = in.pod<std::uint8_t>();
  if (finalized > 1) throw CheckpointError("checkpoint damaged: finalized flag");
  expect_equal(in, static_cast<std::uint64_t>(params_.size()), "parameter count");
  for (auto& p : params_) p.load(in);
  expect_equal(in, static_cast<std::uint64_t>(indexes_.size()), "index state count");
  for (auto& index : indexes_) {
    const std::string stored = in.string(4096);
    if (stored != index.name) {
      throw CheckpointError("checkpoint does not match this table: index state '" + stored +
                            "' found where '" + index.name + "' was expected");
    }
    index.state->load(in);
  }
  stage_ = static_cast<std::size_t>(stage);
  finalized_ = finalized != 0;
  on_state_loaded();
}

void TableArgs::validate_counts() const {
  if (!counts) return;
  if (counts->size() != static_cast<std::size_t>(schema.num_fields())) {
    throw InvalidArgument("table arguments: counts for " + std::to_string(counts->size()) +
                          " fields; the schema has " + std::to_string(schema.num_fields()));
  }
  for (Index f = 0; f < schema.num_fields(); ++f) {
    const auto have = (*counts)[static_cast<std::size_t>(f)].size();
    if (have != static_cast<std::size_t>(schema.cardinalities[static_cast<std::size_t>(f)])) {
      throw InvalidArgument("table arguments: field " + std::to_string(f) + " has " +
                            std::to_string(have) + " counts for " +
                            std::to_string(schema.cardinalities[static_cast<std::size_t>(f)]) +
                            " ids");
    }
  }
}

}  // namespace embcomp
