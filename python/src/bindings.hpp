// What the source files of embcomp._embcomp share: the array checks and each file's bindings.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace embcomp::python {

namespace py = pybind11;

/// Raises TypeError unless `array` holds `T` (dtype `expected`), C-contiguous with `rank` axes.
template <class T>
inline void check_array(const py::array& array, const char* what, const char* expected, int rank) {
  if (!py::isinstance<py::array_t<T>>(array)) {
    throw py::type_error(std::string(what) + ": expected dtype " + expected + ", got " +
                         py::str(array.dtype()).cast<std::string>() + " (convert with " + what +
                         ".astype(numpy." + expected + "))");
  }
  if (array.ndim() != rank) {
    throw py::value_error(std::string(what) + ": expected " + std::to_string(rank) +
                          " dimensions, got " + std::to_string(array.ndim()));
  }
  if ((array.flags() & py::array::c_style) == 0) {
    throw py::value_error(std::string(what) +
                          ": expected a C-contiguous array (numpy.ascontiguousarray)");
  }
}

/// The synthetic data, AUC and logloss (data.cpp).
void bind_data(py::module_& m);

}  // namespace embcomp::python
