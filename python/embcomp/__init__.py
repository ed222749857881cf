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

from ._embcomp import (
    Adagrad,
    Adam,
    CheckpointError,
    Error,
    Gradients,
    InfeasibleBudget,
    InvalidArgument,
    NonFiniteGradient,
    Optimizer,
    SGD,
    SyntheticCtr,
    Table,
    auc,
    load,
    load_bytes,
    logloss,
    methods,
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
    "SGD",
    "SyntheticCtr",
    "Table",
    "auc",
    "load",
    "load_bytes",
    "logloss",
    "methods",
]
