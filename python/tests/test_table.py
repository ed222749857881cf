"""The Python binding of embcomp's tables, against plain NumPy twins of what they compute.

Run by CTest (python.pytest) with the build tree's package on PYTHONPATH, or by hand:
    PYTHONPATH=build/ci/python python3 -m pytest python/tests
"""

import gc
import os
import pickle
import subprocess

import numpy as np
import pytest

import embcomp

from support import CARDINALITIES, DIM, check_finite_differences, field_offsets, skewed_ids


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def feasible_table(key, seed=1):
    """The method at the highest of 10x, 4x, 2x, 1x that it reaches on CARDINALITIES."""
    for ratio in (10.0, 4.0, 2.0, 1.0):
        try:
            return embcomp.Table(key, CARDINALITIES, dim=DIM, ratio=ratio, seed=seed)
        except embcomp.InfeasibleBudget:
            continue
    raise AssertionError(f"{key} fits no ratio from 10x down to 1x")


def stacked_rows(ids, cardinalities=CARDINALITIES):
    """The row of each position in the fields' stacked [N x d] table: offset_f + id."""
    return (ids + field_offsets(cardinalities)[np.newaxis, :]).reshape(-1)


METHODS = [m["key"] for m in embcomp.methods()]


def test_methods_lists_the_registry_with_options():
    assert len(METHODS) == len(set(METHODS))
    for key in ("full", "hash", "qr", "mde", "int8", "cafe", "cafe-ml", "tt", "dhe", "robe"):
        assert key in METHODS
    hash_info = next(m for m in embcomp.methods() if m["key"] == "hash")
    assert {o["name"] for o in hash_info["options"]} >= {"hash", "tables"}
    assert all(o["help"] for o in hash_info["options"])


def test_set_num_threads_sets_the_library_threads_and_results_do_not_depend_on_them():
    before = embcomp.get_num_threads()
    try:
        parameters = []
        for threads in (1, 2):
            embcomp.set_num_threads(threads)
            assert embcomp.get_num_threads() == threads
            table = embcomp.Table("hash", [5000, 300, 7], dim=8, ratio=10.0, seed=3)
            rng = np.random.default_rng(4)
            ids = np.stack([rng.integers(0, n, 2048) for n in (5000, 300, 7)], axis=1)
            dE = rng.standard_normal((ids.size, 8)).astype(np.float32)
            adam = embcomp.Adam(0.01)
            table.forward(ids)
            adam.step(table.backward(ids, dE))
            parameters.append({k: v.copy() for k, v in table.parameters().items()})
        for name in parameters[0]:
            assert np.array_equal(parameters[0][name], parameters[1][name])
        with pytest.raises(embcomp.InvalidArgument, match="at least 1"):
            embcomp.set_num_threads(0)
        assert embcomp.get_num_threads() == 2
    finally:
        embcomp.set_num_threads(before)


def test_train_steps_in_cpp_take_the_steps_the_binding_takes():
    """overhead.py's reference loop and Table.train_step (embcomp.torch's fused step) train
    exactly as forward/backward/step/after_step do."""
    from embcomp import _embcomp

    rng = np.random.default_rng(6)
    cards = [400, 30, 5]
    batches = [np.stack([rng.integers(0, n, 64) for n in cards], axis=1) for _ in range(3)]
    dE = rng.standard_normal((64 * 3, 8)).astype(np.float32)
    tables = [embcomp.Table("cafe", cards, dim=8, ratio=8.0, seed=2) for _ in range(3)]
    optimizers = [embcomp.Adam(0.01), embcomp.Adam(0.01), embcomp.Adam(0.01)]
    grads, fused_grads = None, None
    for step in range(5):
        ids = batches[step % 3]
        tables[0].forward(ids)
        grads = tables[0].backward(ids, dE, grads)
        optimizers[0].step(grads)
        tables[0].after_step(optimizers[0])
        tables[2].forward(ids)
        fused_grads = tables[2].train_step(ids, dE, optimizers[2], fused_grads)
    _embcomp._train_steps(tables[1], optimizers[1], batches, dE, 5)
    assert optimizers[1].steps == 5 and optimizers[2].steps == 5
    for name, values in tables[0].parameters().items():
        assert np.array_equal(values, tables[1].parameters()[name]), name
        assert np.array_equal(values, tables[2].parameters()[name]), name
    for name, (rows, values) in grads.rows().items():
        assert np.array_equal(rows, fused_grads.rows()[name][0]), name
        assert np.array_equal(values, fused_grads.rows()[name][1]), name
    # A non-finite gradient stops the fused step before the optimizer changes anything.
    before = tables[2].save_bytes()
    poisoned = dE.copy()
    poisoned[7, 1] = np.inf
    tables[2].forward(batches[0])
    with pytest.raises(embcomp.NonFiniteGradient):
        tables[2].train_step(batches[0], poisoned, optimizers[2])
    assert tables[2].save_bytes() == before and optimizers[2].steps == 5
    with pytest.raises(ValueError, match="dE"):
        _embcomp._train_steps(tables[1], optimizers[1], batches, dE[:10], 1)


def test_full_looks_up_its_rows_by_field_offset():
    table = embcomp.Table("full", CARDINALITIES, dim=DIM, seed=3)
    rows = table.parameters()["rows"]
    ids = skewed_ids(64, 1)
    np.testing.assert_array_equal(table.lookup(ids), rows[stacked_rows(ids)])


def test_lookup_writes_into_the_given_array_without_copying():
    table = embcomp.Table("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=3)
    ids = skewed_ids(32, 2)
    out = np.full((32 * 4, DIM), np.nan, dtype=np.float32)
    result = table.lookup(ids, out=out)
    assert np.shares_memory(result, out)
    np.testing.assert_array_equal(out, table.lookup(ids))
    # A parameter view is the table's storage: writing it changes the lookups.
    table.parameters()["rows"][:] = 0.5
    assert np.all(table.lookup(ids) == 0.5)


@pytest.mark.parametrize("key", METHODS)
def test_every_method_looks_up_alike_per_sample_and_after_a_checkpoint(key):
    table = feasible_table(key)
    ids = skewed_ids(40, 5)
    out = table.lookup(ids)
    assert out.shape == (40 * 4, DIM) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    # Sample by sample, the same rows: the binding hands the batch over as laid out.
    for b in (0, 17, 39):
        np.testing.assert_array_equal(table.lookup(ids[b : b + 1]), out[4 * b : 4 * b + 4])
    restored = embcomp.load_bytes(table.save_bytes())
    assert restored.spec == table.spec
    np.testing.assert_array_equal(restored.lookup(ids), out)


@pytest.mark.parametrize("key", METHODS)
def test_every_method_looks_up_what_the_library_called_directly_does(key, tmp_path):
    reference = os.environ.get("EMBCOMP_LOOKUP_REFERENCE")
    if not reference:
        pytest.skip("EMBCOMP_LOOKUP_REFERENCE (the C++ helper CTest builds) is not set")
    table = feasible_table(key, seed=7)
    ids = skewed_ids(50, 8)
    (tmp_path / "ids").write_bytes(ids.tobytes())
    subprocess.run([reference, table.spec, repr(table.ratio), "7", str(DIM),
                    ",".join(map(str, CARDINALITIES)), str(tmp_path / "ids"),
                    str(tmp_path / "out")], check=True)
    expected = np.fromfile(tmp_path / "out", dtype=np.float32).reshape(-1, DIM)
    np.testing.assert_array_equal(table.lookup(ids), expected)


def test_full_sgd_step_is_the_scatter_sum_of_de():
    table = embcomp.Table("full", CARDINALITIES, dim=DIM, seed=4)
    before = table.parameters()["rows"].copy()
    ids = skewed_ids(64, 6)
    dE = normal((64 * 4, DIM), 7)
    table.forward(ids)
    grads = table.backward(ids, dE)
    optimizer = embcomp.SGD(lr=0.1)
    optimizer.step(grads)
    table.after_step(optimizer)
    # The plain twin: sum dE per row in ascending positions (np.add.at's order), then w - lr g.
    gradient = np.zeros_like(before)
    np.add.at(gradient, stacked_rows(ids), dE)
    expected = before - np.float32(0.1) * gradient
    np.testing.assert_array_equal(table.parameters()["rows"], expected)
    sparse_rows, values = grads.rows()["rows"]
    assert sorted(sparse_rows.tolist()) == sorted(set(stacked_rows(ids).tolist()))
    np.testing.assert_array_equal(values, gradient[sparse_rows])
    assert optimizer.steps == 1


def test_full_rowwise_adagrad_steps_twice_as_a_numpy_twin_does():
    table = embcomp.Table("full", CARDINALITIES, dim=DIM, seed=28)
    weights = table.parameters()["rows"].astype(np.float64)
    accumulator = np.zeros(weights.shape[0])
    optimizer = embcomp.RowwiseAdagrad(lr=0.1)
    for step in range(2):
        ids = skewed_ids(64, 29 + step)
        dE = normal((64 * 4, DIM), 31 + step)
        optimizer.step(table.backward(ids, dE))
        gradient = np.zeros_like(weights)
        np.add.at(gradient, stacked_rows(ids), dE)
        touched = np.unique(stacked_rows(ids))
        accumulator[touched] += (gradient[touched] ** 2).mean(axis=1)
        weights[touched] -= 0.1 * gradient[touched] / (np.sqrt(accumulator[touched]) + 1e-8)[:, None]
    np.testing.assert_allclose(table.parameters()["rows"], weights, rtol=1e-5, atol=1e-7)
    assert table.memory(optimizer)["optimizer_bytes"] == weights.shape[0] * 4  # one value a row


@pytest.mark.parametrize("spec,ratio", [("hash", 10.0), ("qr:op=mul", 10.0), ("mde", 4.0)])
def test_gradients_match_finite_differences_of_the_lookup(spec, ratio):
    table = embcomp.Table(spec, CARDINALITIES, dim=DIM, ratio=ratio, seed=8)
    ids = skewed_ids(16, 9)
    weights = normal((16 * 4, DIM), 10).astype(np.float64)

    def loss():
        return float(np.sum(table.lookup(ids).astype(np.float64) * weights))

    grads = table.backward(ids, weights.astype(np.float32)).rows()
    check_finite_differences(table, grads, loss, seed=11, samples=6)


def test_training_through_the_binding_fits_planted_targets():
    table = embcomp.Table("hash", CARDINALITIES, dim=DIM, ratio=2.0, seed=12)
    rng = np.random.default_rng(13)
    targets = rng.standard_normal((sum(CARDINALITIES), DIM)).astype(np.float32) * 0.1
    optimizer = embcomp.Adam(lr=0.05)
    ids = skewed_ids(256, 14)
    first = None
    for step in range(200):
        out = table.forward(ids)
        dE = out - targets[stacked_rows(ids)]
        loss = float(np.mean(dE.astype(np.float64) ** 2))
        first = loss if first is None else first
        optimizer.step(table.backward(ids, dE))
        table.after_step(optimizer)
    assert loss < 0.5 * first


def test_cafe_promotes_hot_features_through_after_step():
    table = embcomp.Table("cafe:threshold=2", CARDINALITIES, dim=DIM, ratio=10.0, seed=15)
    optimizer = embcomp.SGD(lr=0.01)
    assert table.statistics()["hot_rows_in_use"] == 0
    for step in range(6):
        ids = skewed_ids(64, 100 + step)
        table.forward(ids)
        optimizer.step(table.backward(ids, normal((64 * 4, DIM), step)))
        table.after_step(optimizer)
    assert table.statistics()["hot_rows_in_use"] > 0


def test_memory_counts_every_byte_and_the_optimizer_state():
    table = embcomp.Table("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=16)
    report = table.memory()
    rows = table.parameters()["rows"]
    assert report["parameter_bytes"] == rows.size * 4
    assert report["full_bytes"] == sum(CARDINALITIES) * DIM * 4
    assert report["ratio"] >= 10.0
    optimizer = embcomp.Adam(lr=0.01)
    ids = skewed_ids(8, 17)
    optimizer.step(table.backward(ids, normal((32, DIM), 18)))
    assert table.memory(optimizer)["optimizer_bytes"] == 2 * rows.size * 4


def test_checkpoint_files_round_trip_and_damaged_ones_are_refused(tmp_path):
    table = embcomp.Table("qr", CARDINALITIES, dim=DIM, ratio=10.0, seed=19)
    path = tmp_path / "qr.embcomp"
    table.save(str(path))
    ids = skewed_ids(20, 20)
    np.testing.assert_array_equal(embcomp.load(str(path)).lookup(ids), table.lookup(ids))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(embcomp.CheckpointError):
        embcomp.load(str(path))
    with pytest.raises(embcomp.CheckpointError):
        embcomp.load_bytes(b"not a checkpoint at all, but long enough to have a header")
    with pytest.raises(OSError):  # CheckpointError is an OSError too
        embcomp.load(str(tmp_path / "missing.embcomp"))
    frozen = table.freeze()
    assert frozen.frozen
    np.testing.assert_array_equal(frozen.lookup(ids), table.lookup(ids))


def test_bad_input_raises_a_clear_error_and_changes_nothing():
    table = embcomp.Table("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=21)
    ids = skewed_ids(8, 22)
    dE = normal((32, DIM), 23)
    before = table.save_bytes()
    with pytest.raises(TypeError, match="int64"):
        table.lookup(ids.astype(np.int32))
    with pytest.raises(ValueError, match="2 dimensions"):
        table.lookup(ids.reshape(-1))
    with pytest.raises(ValueError, match="4 fields"):
        table.lookup(ids[:, :3].copy())
    with pytest.raises(ValueError, match="C-contiguous"):
        table.lookup(np.asfortranarray(ids))
    bad = ids.copy()
    bad[2, 2] = 7  # field 2 has 7 ids
    with pytest.raises(embcomp.InvalidArgument, match="field 2"):
        table.lookup(bad)
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError too
        table.backward(bad, dE)
    with pytest.raises(TypeError, match="float32"):
        table.backward(ids, dE.astype(np.float64))
    with pytest.raises(ValueError, match=r"shape \(32, 8\)"):
        table.backward(ids, dE[:16])
    read_only = np.zeros((32, DIM), dtype=np.float32)
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        table.lookup(ids, out=read_only)
    with pytest.raises(TypeError, match="ndarray"):
        table.lookup(ids, out=[[0.0] * DIM] * 32)
    poisoned = dE.copy()
    poisoned[5, 3] = np.nan
    optimizer = embcomp.SGD(lr=0.1)
    with pytest.raises(embcomp.NonFiniteGradient):
        optimizer.step(table.backward(ids, poisoned))
    other = embcomp.Table("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=21)
    with pytest.raises(ValueError, match="another table"):
        table.backward(ids, dE, grads=other.backward(ids, dE))
    with pytest.raises(embcomp.InfeasibleBudget, match="full"):
        embcomp.Table("full", CARDINALITIES, dim=DIM, ratio=10.0)
    with pytest.raises(embcomp.InvalidArgument, match="no_such_option"):
        embcomp.Table("hash:no_such_option=1", CARDINALITIES, dim=DIM, ratio=10.0)
    assert table.save_bytes() == before
    assert optimizer.steps == 0


def test_parameter_views_keep_their_table_alive():
    table = embcomp.Table("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=24)
    ids = skewed_ids(4, 25)
    expected = table.lookup(ids)
    rows = table.parameters()["rows"]
    del table
    gc.collect()
    assert isinstance(rows.base, embcomp.Table)  # the view holds its table
    np.testing.assert_array_equal(rows.base.lookup(ids), expected)
    rows[:] = 2.0
    assert np.all(rows.base.lookup(ids) == 2.0)


def test_tables_and_optimizers_pickle():
    table = embcomp.Table("qr:op=mul", CARDINALITIES, dim=DIM, ratio=10.0, seed=26)
    ids = skewed_ids(16, 27)
    restored = pickle.loads(pickle.dumps(table))
    assert restored.spec == table.spec
    np.testing.assert_array_equal(restored.lookup(ids), table.lookup(ids))
    adam = pickle.loads(pickle.dumps(embcomp.Adam(0.02, beta1=0.8, beta2=0.99, eps=1e-6)))
    assert (adam.name, adam.steps) == ("adam", 0)
    assert adam.learning_rate == pytest.approx(0.02)
    optimizers = (embcomp.SGD(0.3), embcomp.Adagrad(0.4, eps=1e-5), embcomp.RowwiseAdagrad(0.5))
    for optimizer in optimizers:
        copy_ = pickle.loads(pickle.dumps(optimizer))
        assert (copy_.name, copy_.learning_rate) == (optimizer.name, optimizer.learning_rate)


def test_numpy_2_needs_a_pybind11_that_supports_it():
    embcomp._check_numpy_support("1.24.2", (2, 10))
    embcomp._check_numpy_support("2.4.6", (2, 12))
    embcomp._check_numpy_support("2.4.6", (3, 0))
    with pytest.raises(ImportError, match="pybind11 2.10.*NumPy 2.4.6"):
        embcomp._check_numpy_support("2.4.6", (2, 10))
