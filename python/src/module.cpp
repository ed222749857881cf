// embcomp._embcomp, the Python extension (pybind11): the registry, tables that look up and
// backpropagate on NumPy arrays without copying them, the optimizers, memory reports and
// checkpoints. python/embcomp/__init__.py re-exports it; _embcomp.pyi types it.
//
//   ids    int64 ndarray [B x F], C-contiguous: field f of sample b is ids[b, f], in [0, n_f)
//   out    float32 ndarray [B*F x d], C-contiguous and writeable: row b*F + f is ids[b, f]'s
//   dE     float32 ndarray [B*F x d], C-contiguous: dLoss/dout
//
// Arrays of another dtype, rank, shape or layout raise TypeError or ValueError naming what was
// expected; nothing is converted behind the caller's back (a silent copy would cost what the
// zero-copy interface promises to save). The C++ errors arrive as Python exceptions carrying
// their message: embcomp.Error and its subclasses (InvalidArgument and InfeasibleBudget are
// also ValueErrors, CheckpointError an OSError, NonFiniteGradient an ArithmeticError).
// The calls into the library release the GIL.
#include <omp.h>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "embcomp/optim/sgd.hpp"
#include "embcomp/registry.hpp"

namespace py = pybind11;

namespace embcomp::python {
namespace {

// ---- arrays ---------------------------------------------------------------------------------

/// The batch an ids array [B x F] holds, over its memory.
IdBatch id_batch(const py::array& ids, const EmbeddingTable& table) {
  check_array<std::int64_t>(ids, "ids", "int64", 2);
  if (ids.shape(1) != table.schema().num_fields()) {
    throw py::value_error("ids: expected " + std::to_string(table.schema().num_fields()) +
                          " fields (columns), got " + std::to_string(ids.shape(1)));
  }
  return {static_cast<const Index*>(ids.data()), static_cast<Index>(ids.shape(0)),
          static_cast<Index>(ids.shape(1))};
}

/// Raises ValueError unless a [rows x d] float32 array `what` has the rows of `batch`.
void check_rows(const py::array& array, const char* what, const IdBatch& batch, Index dim) {
  check_array<float>(array, what, "float32", 2);
  if (array.shape(0) != batch.size() || array.shape(1) != dim) {
    throw py::value_error(std::string(what) + ": expected shape (" + std::to_string(batch.size()) +
                          ", " + std::to_string(dim) + ") for " + std::to_string(batch.batch) +
                          " samples of " + std::to_string(batch.fields) + " fields, got (" +
                          std::to_string(array.shape(0)) + ", " + std::to_string(array.shape(1)) +
                          ")");
  }
}

/// `out` checked as the output of a lookup of `batch`, or a new array when None.
py::array_t<float> output_for(const py::object& out, const IdBatch& batch, Index dim) {
  if (out.is_none()) return py::array_t<float>({batch.size(), dim});
  if (!py::isinstance<py::array>(out)) {
    throw py::type_error("out: expected a numpy.ndarray, got " +
                         py::str(py::type::of(out)).cast<std::string>());
  }
  const auto array = py::reinterpret_borrow<py::array>(out);
  check_rows(array, "out", batch, dim);
  if (!array.writeable()) throw py::value_error("out: the array is read-only");
  return py::reinterpret_borrow<py::array_t<float>>(array);
}

// ---- tables ---------------------------------------------------------------------------------

using TablePtr = std::unique_ptr<EmbeddingTable>;

/// Per-field training-split counts as TableArgs takes them: counts[f] has n_f entries.
std::shared_ptr<const IdCounts> counts_of(const py::object& counts) {
  if (counts.is_none()) return {};
  auto result = std::make_shared<IdCounts>();
  for (const py::handle field : counts) {
    const auto array =
        py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(field);
    if (!array || array.ndim() != 1) {
      throw py::value_error("counts: expected one 1-D array of counts per field");
    }
    result->emplace_back(array.data(), array.data() + array.shape(0));
  }
  return result;
}

TablePtr make(const std::string& spec, const std::vector<Index>& cardinalities, Index dim,
              double ratio, std::uint64_t seed, const py::object& counts) {
  TableArgs args(Schema{cardinalities, dim}, Budget{ratio}, seed, counts_of(counts));
  py::gil_scoped_release release;
  return make_table(spec, args);
}

/// Embeddings [B*F x d] of ids through `read` (the table's lookup or forward), into `out` or a
/// new array, with the GIL released.
template <class Table, class Read>
py::array_t<float> embed(Table& table, const py::array& ids, const py::object& out, Read read) {
  const IdBatch batch = id_batch(ids, table);
  auto result = output_for(out, batch, table.dim());
  const Matrix matrix{result.mutable_data(), batch.size(), table.dim()};
  {
    py::gil_scoped_release release;
    (table.*read)(batch, matrix);
  }
  return result;
}

py::array_t<float> lookup(const EmbeddingTable& table, const py::array& ids,
                          const py::object& out) {
  return embed(table, ids, out, &EmbeddingTable::lookup);
}

py::array_t<float> forward(EmbeddingTable& table, const py::array& ids, const py::object& out) {
  return embed(table, ids, out, &EmbeddingTable::forward);
}

/// Gradients of one backward pass, with the table they belong to (kept alive by them).
struct TableGradients {
  Gradients grads;
  py::object table;
};

std::shared_ptr<TableGradients> backward(const py::object& self, const py::array& ids,
                                         const py::array& dE, const py::object& grads) {
  auto& table = self.cast<EmbeddingTable&>();
  const IdBatch batch = id_batch(ids, table);
  check_rows(dE, "dE", batch, table.dim());
  auto result = grads.is_none() ? std::make_shared<TableGradients>()
                                : grads.cast<std::shared_ptr<TableGradients>>();
  if (result->table && !result->table.is(self)) {
    throw py::value_error("grads: these gradients belong to another table");
  }
  result->table = self;
  {
    py::gil_scoped_release release;
    table.backward(batch, {static_cast<const float*>(dE.data()), batch.size(), table.dim()},
                   result->grads);
  }
  return result;
}

/// backward, the optimizer's step and the method's after_step in one call: embcomp.torch's fused
/// step crosses the binding once instead of three times (each crossing runs cold code after a
/// step has streamed its batch through the caches).
std::shared_ptr<TableGradients> train_step(const py::object& self, const py::array& ids,
                                           const py::array& dE, Optimizer& optimizer,
                                           const py::object& grads) {
  auto result = backward(self, ids, dE, grads);
  auto& table = self.cast<EmbeddingTable&>();
  py::gil_scoped_release release;
  optimizer.step(result->grads);
  table.after_step({optimizer.steps(), table.stage(), 0.0, &optimizer});
  return result;
}

/// A parameter's values as an array: a writeable view of fp32 storage (kept alive with the
/// table), or a read-only decoded copy of integer codes.
py::array parameter_array(const py::object& self, const Parameter& param) {
  const std::vector<py::ssize_t> shape{param.rows(), param.width()};
  if (param.is_fp32()) {
    return py::array_t<float>(shape, const_cast<Parameter&>(param).data(), self);
  }
  py::array_t<float> decoded(shape);
  for (Index r = 0; r < param.rows(); ++r) param.read_row(r, decoded.mutable_data(r, 0));
  decoded.attr("setflags")(py::arg("write") = false);
  return decoded;
}

py::dict parameters(const py::object& self) {
  py::dict result;
  for (const Parameter* param : self.cast<const EmbeddingTable&>().parameters()) {
    result[py::str(param->name())] = parameter_array(self, *param);
  }
  return result;
}

py::dict memory(const EmbeddingTable& table, const Optimizer* optimizer) {
  const MemoryReport report = table.memory(optimizer);
  py::dict result;
  result["full_bytes"] = report.full_bytes;
  result["parameter_bytes"] = report.parameter_bytes;
  result["index_bytes"] = report.index_bytes;
  result["optimizer_bytes"] = report.optimizer_bytes;
  result["serving_bytes"] = report.serving_bytes;
  result["training_bytes"] = report.training_bytes();
  result["ratio"] = report.ratio();
  result["training_ratio"] = report.training_ratio();
  return result;
}

py::bytes save_bytes(const EmbeddingTable& table) {
  std::ostringstream out;
  table.save(out);
  return py::bytes(out.str());
}

TablePtr load_bytes(const py::bytes& data) {
  std::istringstream in(std::string(data), std::ios::binary);
  return load_table(in);
}

py::list stages(const EmbeddingTable& table) {
  py::list result;
  for (const Stage& stage : table.stages()) {
    py::dict s;
    s["name"] = stage.name;
    s["epochs"] = stage.epochs;
    s["steps"] = stage.steps ? py::cast(*stage.steps) : py::none();
    s["train_model"] = stage.train_model;
    s["reset_model"] = stage.reset_model;
    s["reset_optimizer"] = stage.reset_optimizer;
    s["uses_validation"] = stage.uses_validation;
    result.append(s);
  }
  return result;
}

std::string repr(const EmbeddingTable& table) {
  std::ostringstream out;
  out << "embcomp.Table('" << table.spec() << "', fields=" << table.schema().num_fields()
      << ", dim=" << table.dim() << ", ratio=" << table.budget().ratio << ")";
  return out.str();
}

// ---- errors ---------------------------------------------------------------------------------

/// A new exception class embcomp.<name> with `bases` (a tuple), added to the module.
PyObject* exception_class(py::module_& m, const char* name, const py::tuple& bases) {
  const std::string qualified = std::string("embcomp.") + name;
  PyObject* type = PyErr_NewException(qualified.c_str(), bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.attr(name) = py::handle(type);
  return type;
}

void register_errors(py::module_& m) {
  static PyObject* error =
      exception_class(m, "Error", py::make_tuple(py::handle(PyExc_RuntimeError)));
  static PyObject* invalid = exception_class(
      m, "InvalidArgument", py::make_tuple(py::handle(error), py::handle(PyExc_ValueError)));
  static PyObject* infeasible = exception_class(
      m, "InfeasibleBudget", py::make_tuple(py::handle(error), py::handle(PyExc_ValueError)));
  static PyObject* checkpoint = exception_class(
      m, "CheckpointError", py::make_tuple(py::handle(error), py::handle(PyExc_OSError)));
  static PyObject* non_finite = exception_class(
      m, "NonFiniteGradient", py::make_tuple(py::handle(error), py::handle(PyExc_ArithmeticError)));
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(invalid, e.what());
    } catch (const InfeasibleBudget& e) {
      PyErr_SetString(infeasible, e.what());
    } catch (const CheckpointError& e) {
      PyErr_SetString(checkpoint, e.what());
    } catch (const NonFiniteGradient& e) {
      PyErr_SetString(non_finite, e.what());
    } catch (const Error& e) {
      PyErr_SetString(error, e.what());
    }
  });
}

// ---- the module -----------------------------------------------------------------------------

py::list method_list(const std::vector<MethodInfo>& infos) {
  py::list result;
  for (const MethodInfo& info : infos) {
    py::list options;
    for (const OptionInfo& option : info.options) {
      py::dict o;
      o["name"] = option.name;
      o["default"] = option.default_value;
      o["help"] = option.help;
      options.append(o);
    }
    py::dict m;
    m["key"] = info.key;
    m["summary"] = info.summary;
    m["options"] = options;
    m["uses_counts"] = info.uses_counts;
    result.append(m);
  }
  return result;
}

/// An optimizer whose one hyper-parameter besides lr is eps (Adagrad, RowwiseAdagrad), pickled
/// as (lr, eps).
template <class EpsOptimizer>
void bind_eps_optimizer(py::module_& m, const char* name, float default_eps) {
  py::class_<EpsOptimizer, Optimizer>(m, name)
      .def(py::init<float, float>(), py::arg("lr"), py::arg("eps") = default_eps)
      .def(py::pickle(
          [](const EpsOptimizer& o) { return py::make_tuple(o.learning_rate(), o.rule().eps); },
          [](const py::tuple& t) {
            return EpsOptimizer(t[0].cast<float>(), t[1].cast<float>());
          }));
}

void bind_optimizers(py::module_& m) {
  py::class_<Optimizer>(m, "Optimizer", "A row-wise optimizer shared by every method.")
      .def(
          "step",
          [](Optimizer& optimizer, const TableGradients& grads) {
            py::gil_scoped_release release;
            optimizer.step(grads.grads);
          },
          py::arg("grads"), "Applies one backward pass's gradients to their table.")
      .def_property("learning_rate", &Optimizer::learning_rate, &Optimizer::set_learning_rate)
      .def_property_readonly("steps", &Optimizer::steps)
      .def_property_readonly("slots", &Optimizer::slots)
      .def_property_readonly("name", &Optimizer::name);
  // Pickled as their hyper-parameters: a copy starts with no state (as a fresh optimizer).
  py::class_<Sgd, Optimizer>(m, "SGD")
      .def(py::init<float>(), py::arg("lr"))
      .def(py::pickle([](const Sgd& o) { return py::make_tuple(o.learning_rate()); },
                      [](const py::tuple& t) { return Sgd(t[0].cast<float>()); }));
  bind_eps_optimizer<Adagrad>(m, "Adagrad", 1e-7f);
  bind_eps_optimizer<RowwiseAdagrad>(m, "RowwiseAdagrad", 1e-8f);
  py::class_<Adam, Optimizer>(m, "Adam")
      .def(py::init<float, float, float, float>(), py::arg("lr"), py::arg("beta1") = 0.9f,
           py::arg("beta2") = 0.999f, py::arg("eps") = 1e-8f)
      .def(py::pickle(
          [](const Adam& o) {
            return py::make_tuple(o.learning_rate(), o.rule().beta1, o.rule().beta2,
                                  o.rule().eps);
          },
          [](const py::tuple& t) {
            return Adam(t[0].cast<float>(), t[1].cast<float>(), t[2].cast<float>(),
                        t[3].cast<float>());
          }));
}

void bind_table(py::module_& m) {
  py::class_<TableGradients, std::shared_ptr<TableGradients>>(
      m, "Gradients", "The gradients of one backward pass, for Optimizer.step.")
      .def(
          "rows",
          [](const TableGradients& g) {
            py::dict result;
            for (const SparseGrad& s : g.grads.sparse) {
              if (s.rows.empty()) continue;
              py::array_t<std::int64_t> rows(static_cast<py::ssize_t>(s.rows.size()),
                                             s.rows.data());
              py::array_t<float> values({s.count(), s.param->width()}, s.values.data());
              result[py::str(s.param->name())] = py::make_tuple(rows, values);
            }
            for (const DenseGrad& d : g.grads.dense) {
              if (d.values.empty()) continue;
              result[py::str(d.param->name())] =
                  py::array_t<float>({d.param->rows(), d.param->width()}, d.values.data());
            }
            return result;
          },
          "Copies: {parameter: (rows, values)} for sparse, {parameter: values} for dense.");

  py::class_<EmbeddingTable, TablePtr>(m, "Table", "An embedding table of any registered method.")
      .def(py::init(&make), py::arg("spec"), py::arg("cardinalities"), py::arg("dim") = 16,
           py::arg("ratio") = 1.0, py::arg("seed") = 0, py::arg("counts") = py::none())
      .def_property_readonly("spec", &EmbeddingTable::spec)
      .def_property_readonly("dim", &EmbeddingTable::dim)
      .def_property_readonly("cardinalities",
                             [](const EmbeddingTable& t) { return t.schema().cardinalities; })
      .def_property_readonly("num_fields",
                             [](const EmbeddingTable& t) { return t.schema().num_fields(); })
      .def_property_readonly("ratio", [](const EmbeddingTable& t) { return t.budget().ratio; })
      .def_property_readonly("seed", &EmbeddingTable::seed)
      .def("lookup", &lookup, py::arg("ids"), py::arg("out") = py::none(),
           "Embeddings [B*F x d] of ids [B x F] (eval and serving); into `out` when given.")
      .def("forward", &forward, py::arg("ids"), py::arg("out") = py::none(),
           "lookup for a training step, before backward on the same ids.")
      .def("backward", &backward, py::arg("ids"), py::arg("dE"), py::arg("grads") = py::none(),
           "Gradients of the table's parameters for dE [B*F x d] (reusing `grads`).")
      .def("train_step", &train_step, py::arg("ids"), py::arg("dE"), py::arg("optimizer"),
           py::arg("grads") = py::none(),
           "backward, optimizer.step and after_step in one call; returns the gradients.")
      .def(
          "after_step",
          [](EmbeddingTable& t, const Optimizer& optimizer) {
            py::gil_scoped_release release;
            t.after_step({optimizer.steps(), t.stage(), 0.0, const_cast<Optimizer*>(&optimizer)});
          },
          py::arg("optimizer"), "The method's work after each optimizer step (cafe's sketch).")
      .def("stages", &stages)
      .def_property_readonly("stage", &EmbeddingTable::stage)
      .def(
          "begin_stage", [](EmbeddingTable& t, std::size_t index) { t.begin_stage(index); },
          py::arg("index"))
      .def("finalize", &EmbeddingTable::finalize)
      .def_property_readonly("finalized", &EmbeddingTable::finalized)
      .def_property_readonly("frozen", &EmbeddingTable::frozen)
      .def("freeze", &EmbeddingTable::freeze, "The lookup-only serving form.")
      .def("parameters", &parameters,
           "{name: [rows x width] float32}: views of fp32 storage, decoded copies of codes.")
      .def("memory", &memory, py::arg("optimizer") = nullptr,
           "Every byte held (with the optimizer's state when given) and the ratios.")
      .def("statistics",
           [](const EmbeddingTable& t) {
             py::dict result;
             for (const TableStatistic& s : t.statistics()) result[py::str(s.name)] = s.value;
             return result;
           })
      .def("save", py::overload_cast<const std::string&>(&EmbeddingTable::save, py::const_),
           py::arg("path"))
      .def("save_bytes", &save_bytes, "The checkpoint save() writes, as bytes.")
      // Pickled as its checkpoint (copy.deepcopy, torch.save of a module, processes).
      .def(py::pickle([](const EmbeddingTable& t) { return py::make_tuple(save_bytes(t)); },
                      [](const py::tuple& t) { return load_bytes(t[0].cast<py::bytes>()); }))
      .def("__repr__", &repr);

  // The reference of python/benchmarks/overhead.py: the step the binding's layers make, in C++
  // with no Python between steps, in the same process (so on the same machine state as the
  // Python steps it is interleaved with).
  m.def(
      "_train_steps",
      [](EmbeddingTable& table, Optimizer& optimizer, const std::vector<py::array>& batches,
         const py::array& dE, int steps) {
        if (batches.empty() || steps < 0) throw py::value_error("_train_steps: no batches or steps < 0");
        std::vector<IdBatch> ids;
        for (const py::array& b : batches) {
          ids.push_back(id_batch(b, table));
          check_rows(dE, "dE", ids.back(), table.dim());
        }
        const ConstMatrix gradient{static_cast<const float*>(dE.data()), ids[0].size(), table.dim()};
        std::vector<float> out(static_cast<std::size_t>(ids[0].size() * table.dim()));
        Gradients grads;
        py::gil_scoped_release release;
        for (int s = 0; s < steps; ++s) {
          const IdBatch& batch = ids[static_cast<std::size_t>(s) % ids.size()];
          table.forward(batch, {out.data(), batch.size(), table.dim()});
          table.backward(batch, gradient, grads);
          optimizer.step(grads);
          table.after_step({optimizer.steps(), table.stage(), 0.0, &optimizer});
        }
      },
      py::arg("table"), py::arg("optimizer"), py::arg("batches"), py::arg("dE"), py::arg("steps"),
      "Benchmark reference: `steps` training steps (forward, backward, optimizer step, "
      "after_step) in C++ on the batches in turn, every batch of dE's rows.");
  m.def("load", py::overload_cast<const std::string&>(&load_table), py::arg("path"),
        "A table from a checkpoint file (CheckpointError when damaged or foreign).");
  m.def("load_bytes", &load_bytes, py::arg("data"), "A table from Table.save_bytes().");
}

}  // namespace
}  // namespace embcomp::python

PYBIND11_MODULE(_embcomp, m) {
  using namespace embcomp::python;
  m.doc() = "embcomp: learnable embedding-table compression (the C++ library's bindings)";
  // The package refuses NumPy 2 under a pybind11 older than 2.12 (__init__.py).
  m.attr("_pybind11_version") = py::make_tuple(PYBIND11_VERSION_MAJOR, PYBIND11_VERSION_MINOR);
  register_errors(m);
  m.def(
      "methods", [] { return method_list(embcomp::methods()); },
      "Every registered method: key, summary, options (name, default, help).");
  // The library's OpenMP threads. torch.set_num_threads does not reach them where torch brings
  // its own OpenMP runtime (PyPI wheels), and importing torch can set them to 1 where it
  // shares the system's (Debian).
  m.def(
      "set_num_threads",
      [](int threads) {
        if (threads < 1) {
          throw embcomp::InvalidArgument("set_num_threads: " + std::to_string(threads) +
                                         " threads; at least 1");
        }
        omp_set_num_threads(threads);
      },
      py::arg("threads"), "OpenMP threads of the library's parallel loops (this thread's).");
  m.def(
      "get_num_threads", [] { return omp_get_max_threads(); },
      "OpenMP threads the library's parallel loops use now.");
  bind_optimizers(m);
  bind_table(m);
  bind_data(m);
}
