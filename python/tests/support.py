"""Helpers of the Python tests: batches with repeated rows, and the finite-difference check."""

import numpy as np

CARDINALITIES = [1000, 50, 7, 300]
DIM = 8


def skewed_ids(batch, seed, cardinalities=CARDINALITIES):
    """ids int64 [batch x F]: a quarter of the draws from each field's first 4 ids."""
    rng = np.random.default_rng(seed)
    columns = []
    for n in cardinalities:
        hot = rng.integers(0, min(n, 4), size=batch)
        anywhere = rng.integers(0, n, size=batch)
        columns.append(np.where(rng.random(batch) < 0.25, hot, anywhere))
    return np.ascontiguousarray(np.stack(columns, axis=1).astype(np.int64))


def field_offsets(cardinalities=CARDINALITIES):
    """The first row of each field in the fields' stacked [N x d] table."""
    return np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)


def check_finite_differences(table, grads, loss, seed, samples=5, eps=1e-2):
    """Checks Gradients.rows() `grads` of scalar `loss()` against central differences on
    `samples` random elements of every parameter of `table` (fp32 views, perturbed in place).
    Each parameter of the methods checked enters the lookup linearly, so the quotient is exact
    up to float32 rounding of the outputs."""
    rng = np.random.default_rng(seed)
    for name, param in table.parameters().items():
        dense = np.zeros(param.shape)
        entry = grads.get(name)
        if isinstance(entry, tuple):
            dense[entry[0]] = entry[1]
        elif entry is not None:
            dense[:] = entry
        for _ in range(samples):
            r, c = rng.integers(param.shape[0]), rng.integers(param.shape[1])
            saved = param[r, c]
            param[r, c] = saved + eps
            up = loss()
            param[r, c] = saved - eps
            down = loss()
            param[r, c] = saved
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - dense[r, c]) <= 1e-3 + 1e-3 * abs(dense[r, c]), (name, r, c)
