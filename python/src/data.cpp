// embcomp._embcomp's data and metrics: the synthetic CTR generator (data/synthetic.hpp) read
// into NumPy arrays, and the exact AUC and logloss (train/metrics.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/train/metrics.hpp"

namespace py = pybind11;

namespace embcomp::python {
namespace {

SplitPart part_of(const std::string& name) {
  if (name == "train") return SplitPart::train;
  if (name == "validation") return SplitPart::validation;
  if (name == "test") return SplitPart::test;
  throw py::value_error("part: expected 'train', 'validation' or 'test', got '" + name + "'");
}

SyntheticCtr make_synthetic(std::optional<std::vector<Index>> cardinalities, Index num_dense,
                            Index train_rows, Index validation_rows, Index test_rows,
                            std::uint64_t seed, const std::string& id_order, double drift) {
  SyntheticConfig config;
  if (cardinalities) config.cardinalities = *cardinalities;
  config.num_dense = num_dense;
  config.train_rows = train_rows;
  config.validation_rows = validation_rows;
  config.test_rows = test_rows;
  config.seed = seed;
  if (id_order != "ranked" && id_order != "hashed") {
    throw py::value_error("id_order: expected 'ranked' or 'hashed', got '" + id_order + "'");
  }
  config.id_order = id_order == "hashed" ? IdOrder::hashed : IdOrder::ranked;
  config.drift = drift;
  return SyntheticCtr(config);
}

/// (labels float32 [B], dense float32 [B x num_dense], ids int64 [B x F]) of rows
/// [first, first + count) of `part`.
py::tuple read(const SyntheticCtr& data, const std::string& part, Index first, Index count) {
  const SplitPart which = part_of(part);
  if (first < 0 || count < 0 || first + count > data.rows(which)) {
    throw py::value_error("read: rows [" + std::to_string(first) + ", " +
                          std::to_string(first + count) + ") are outside the " + part + " part's " +
                          std::to_string(data.rows(which)) + " rows");
  }
  Batch batch;
  {
    py::gil_scoped_release release;
    data.read(which, first, count, batch);
  }
  const auto fields = static_cast<py::ssize_t>(batch.num_fields);
  py::array_t<float> labels(count, batch.labels.data());
  py::array_t<float> dense({count, batch.num_dense}, batch.dense.data());
  py::array_t<std::int64_t> ids({static_cast<py::ssize_t>(count), fields}, batch.ids.data());
  return py::make_tuple(labels, dense, ids);
}

/// The float32 view of a 1-D array `what` of `size` entries (size -1: any).
py::array_t<float> scores_array(const py::array& array, const char* what, py::ssize_t size) {
  check_array<float>(array, what, "float32", 1);
  if (size >= 0 && array.shape(0) != size) {
    throw py::value_error(std::string(what) + ": expected " + std::to_string(size) +
                          " entries, got " + std::to_string(array.shape(0)));
  }
  return py::reinterpret_borrow<py::array_t<float>>(array);
}

}  // namespace

void bind_data(py::module_& m) {
  py::class_<SyntheticCtr>(m, "SyntheticCtr",
                           "Synthetic CTR data with a known Bayes-optimal answer (the suite's "
                           "default data; data/synthetic.hpp describes the model).")
      .def(py::init(&make_synthetic), py::arg("cardinalities") = py::none(),
           py::arg("num_dense") = 13, py::arg("train_rows") = 1'000'000,
           py::arg("validation_rows") = 100'000, py::arg("test_rows") = 100'000,
           py::arg("seed") = 1, py::arg("id_order") = "ranked", py::arg("drift") = 0.0)
      .def_property_readonly("cardinalities", &SyntheticCtr::cardinalities)
      .def_property_readonly("num_dense", &SyntheticCtr::num_dense)
      .def(
          "rows",
          [](const SyntheticCtr& d, const std::string& part) { return d.rows(part_of(part)); },
          py::arg("part"))
      .def("read", &read, py::arg("part"), py::arg("first"), py::arg("count"),
           "(labels [B], dense [B x num_dense], ids [B x F]) of rows [first, first + count).")
      .def(
          "bayes_auc",
          [](const SyntheticCtr& d, const std::string& part) {
            py::gil_scoped_release release;
            return d.bayes_metrics(part_of(part)).auc;
          },
          py::arg("part") = "test",
          "The AUC of the true probabilities: what a perfect model "
          "scores on this part.");

  m.def(
      "auc",
      [](const py::array& scores, const py::array& labels) {
        const auto s = scores_array(scores, "scores", -1);
        const auto l = scores_array(labels, "labels", s.shape(0));
        py::gil_scoped_release release;
        return exact_auc({s.data(), static_cast<std::size_t>(s.shape(0))},
                         {l.data(), static_cast<std::size_t>(l.shape(0))});
      },
      py::arg("scores"), py::arg("labels"), "Exact AUC (ties counted half), float32 arrays.");
  m.def(
      "logloss",
      [](const py::array& probabilities, const py::array& labels) {
        const auto p = scores_array(probabilities, "probabilities", -1);
        const auto l = scores_array(labels, "labels", p.shape(0));
        py::gil_scoped_release release;
        return logloss({p.data(), static_cast<std::size_t>(p.shape(0))},
                       {l.data(), static_cast<std::size_t>(l.shape(0))});
      },
      py::arg("probabilities"), py::arg("labels"), "Mean binary cross-entropy, float32 arrays.");
}

}  // namespace embcomp::python
