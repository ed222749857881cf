// Test helpers: small schemas, seeded id batches, and a plain training loop used to check that
// a method learns.
#pragma once

#include <cmath>
#include <deque>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "embcomp/data/planted.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/table.hpp"
#include "embcomp/train/probe.hpp"

namespace embcomp::test {

/// Five fields of mixed sizes (one of size 1), dim 8: small enough for finite differences.
inline Schema small_schema(Index dim = 8) { return Schema{{1000, 37, 5, 250, 1}, dim}; }

/// [batch x F] ids, uniform per field, from `seed`.
inline std::vector<Index> random_ids(const Schema& schema, Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<Index> ids(static_cast<std::size_t>(batch * schema.num_fields()));
  for (Index b = 0; b < batch; ++b) {
    for (Index f = 0; f < schema.num_fields(); ++f) {
      std::uniform_int_distribution<Index> pick(0, schema.cardinalities[f] - 1);
      ids[b * schema.num_fields() + f] = pick(rng);
    }
  }
  return ids;
}

inline IdBatch batch_of(const std::vector<Index>& ids, const Schema& schema) {
  return {ids.data(), static_cast<Index>(ids.size()) / schema.num_fields(), schema.num_fields()};
}

/// Lookup into a fresh [B*F x d] buffer.
inline std::vector<float> lookup(const EmbeddingTable& table, const std::vector<Index>& ids) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.lookup(batch, {out.data(), batch.size(), table.dim()});
  return out;
}

/// The training forward (forward(), not lookup()) into a fresh [B*F x d] buffer.
inline std::vector<float> train_forward(EmbeddingTable& table, const std::vector<Index>& ids) {
  const IdBatch batch = batch_of(ids, table.schema());
  std::vector<float> out(static_cast<std::size_t>(batch.size() * table.dim()));
  table.forward(batch, {out.data(), batch.size(), table.dim()});
  return out;
}

/// table.backward(ids, dE) into fresh Gradients; dE is [ids.size() x d].
inline Gradients backward_of(EmbeddingTable& table, const std::vector<Index>& ids,
                             const std::vector<float>& dE) {
  Gradients grads;
  table.backward(batch_of(ids, table.schema()), {dE.data(), static_cast<Index>(ids.size()), table.dim()}, grads);
  return grads;
}

/// Uniform(-1, 1) values, e.g. a dE or loss weights.
inline std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

/// A parameter appended to `params` (a test's own storage), filled by random_values seeded by
/// its position.
inline Parameter& add_random_param(std::deque<Parameter>& params, const std::string& name, Index rows,
                                   Index width, ParamKind kind) {
  Parameter& p = params.emplace_back(name, rows, width, kind);
  const auto v = random_values(p.size(), static_cast<unsigned>(params.size()));
  std::copy(v.begin(), v.end(), p.data());
  return p;
}

/// make_table(spec, args) as the method's own class, for its accessors.
template <class Method>
std::unique_ptr<Method> make_method(const std::string& spec, const TableArgs& args) {
  auto table = make_table(spec, args);
  REQUIRE(dynamic_cast<Method*>(table.get()) != nullptr);
  return std::unique_ptr<Method>(static_cast<Method*>(table.release()));
}

/// The parameter of `t` named `name`, or null.
inline const Parameter* param_named(const EmbeddingTable& t, const std::string& name) {
  for (const Parameter* p : t.parameters()) {
    if (p->name() == name) return p;
  }
  return nullptr;
}

/// The parameter of `t` named `name`, for tests that set values; fails the test when absent.
inline Parameter& mutable_param(EmbeddingTable& t, const std::string& name) {
  for (Parameter* p : t.parameters()) {
    if (p->name() == name) return *p;
  }
  FAIL("no parameter " << name);
  throw;
}

/// The gradient of `param` as a dense [rows x width] array: a sparse one spread (zero
/// elsewhere), a dense one copied.
inline std::vector<double> densify(const Gradients& grads, const Parameter* param) {
  std::vector<double> dense(param == nullptr ? 0 : param->size(), 0.0);
  for (const auto& g : grads.sparse) {
    if (g.param != param) continue;
    std::set<Index> seen;
    for (Index i = 0; i < g.count(); ++i) {
      REQUIRE(seen.insert(g.rows[i]).second);  // rows are unique
      for (Index k = 0; k < param->width(); ++k) dense[g.rows[i] * param->width() + k] = g.row(i)[k];
    }
  }
  for (const auto& g : grads.dense) {
    if (g.param == param) std::copy(g.values.begin(), g.values.end(), dense.begin());
  }
  return dense;
}

/// Every field's embeddings of every id, through lookups: [N x d], rows stacked as in `full`
/// (the dense form of a pruned table's serving rows).
inline std::vector<float> all_embeddings(const EmbeddingTable& table) {
  const Schema& s = table.schema();
  std::vector<float> out;
  for (Index f = 0; f < s.num_fields(); ++f) {
    for (Index id = 0; id < s.cardinalities[f]; ++id) {
      std::vector<Index> ids(static_cast<std::size_t>(s.num_fields()), 0);
      ids[static_cast<std::size_t>(f)] = id;
      const auto row = lookup(table, ids);
      out.insert(out.end(), row.begin() + f * s.dim, row.begin() + (f + 1) * s.dim);
    }
  }
  return out;
}

/// A copy of the values of `t`'s parameter `name` (which must exist).
inline std::vector<float> param_values(const EmbeddingTable& t, const std::string& name) {
  const Parameter* p = param_named(t, name);
  REQUIRE(p != nullptr);
  return {p->data(), p->data() + p->size()};
}

/// Held-out AUC of `table` trained with Adam on the planted task (data/planted.hpp).
inline double train_planted_task_auc(EmbeddingTable& table, int steps = 300, Index batch = 256) {
  Adam adam(0.05f);
  return train_linear_probe(table, adam, PlantedTask(table.schema(), 7), steps, batch).auc;
}

}  // namespace embcomp::test
