"""embcomp: learnable embedding-table compression for recommendation models.

The C++ library's methods behind one class, on NumPy arrays without copies::

    import numpy as np, embcomp
    table = embcomp.Table("hash", cardinalities=[1000, 50, 7], dim=16, ratio=10.0, seed=1)
    ids = np.array([[3, 4, 5], [999, 0, 6]], dtype=np.int64)   # [B x F]
    out = table.forward(ids)                                    # [B*F x d] float32
    grads = table.backward(ids, dE)                             # dE: dLoss/dout, [B*F x d]
    optimizer = embcomp.Adam(lr=0.01)
    optimizer.step(grads)
    table.after_step(optimizer)

embcomp.methods() lists every method and its options; Table.memory() counts every byte;
Table.save() / embcomp.load() write and read the C++ library's checkpoints. SyntheticCtr is the
suite's synthetic CTR data, auc and logloss its metrics; embcomp.torch has the PyTorch module.
"""

import numpy as _numpy

from . import _embcomp


def _check_numpy_support(numpy_version: str, pybind11_version: tuple) -> None:
    """ImportError where the extension cannot hand arrays to this NumPy: pybind11 supports
    NumPy 2 from 2.12 on; an older one builds arrays NumPy 2 misreads."""
    if int(numpy_version.split(".")[0]) >= 2 and tuple(pybind11_version) < (2, 12):
        raise ImportError(
            f"embcomp was built with pybind11 {pybind11_version[0]}.{pybind11_version[1]}, "
            f"which does not support NumPy {numpy_version} (2.12 and newer do): use NumPy < 2 "
            "with this build, or build with a newer pybind11 (`pip install .` does)"
        )


_check_numpy_support(_numpy.__version__, _embcomp._pybind11_version)

from ._embcomp import (  # noqa: E402
    Adagrad,
    Adam,
    CheckpointError,
    Error,
    Gradients,
    InfeasibleBudget,
    InvalidArgument,
    NonFiniteGradient,
    Optimizer,
    RowwiseAdagrad,
    SGD,
    SyntheticCtr,
    Table,
    auc,
    get_num_threads,
    load,
    load_bytes,
    logloss,
    methods,
    set_num_threads,
)

__all__ = [
    "Adagrad",
    "Adam",
    "CheckpointError",
    "Error",
    "Gradients",
    "InfeasibleBudget",
    "InvalidArgument",
    "NonFiniteGradient",
    "Optimizer",
    "RowwiseAdagrad",
    "SGD",
    "SyntheticCtr",
    "Table",
    "auc",
    "get_num_threads",
    "load",
    "load_bytes",
    "logloss",
    "methods",
    "set_num_threads",
]
