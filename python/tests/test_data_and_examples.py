"""The synthetic data and metrics bindings, and the Python examples run small."""

import pathlib

import numpy as np
import pytest

import embcomp

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_synthetic_reads_are_a_pure_function_of_the_rows():
    data = embcomp.SyntheticCtr(cardinalities=[100, 20, 5], train_rows=1000, validation_rows=50,
                                test_rows=50, seed=3)
    labels, dense, ids = data.read("train", 10, 30)
    assert labels.shape == (30,) and dense.shape == (30, 13) and ids.shape == (30, 3)
    assert ids.dtype == np.int64 and np.all(ids >= 0) and np.all(ids < [100, 20, 5])
    again = data.read("train", 25, 10)  # rows 25..34 read on their own
    np.testing.assert_array_equal(again[2], ids[15:25])
    np.testing.assert_array_equal(again[0], labels[15:25])
    assert set(np.unique(labels)) <= {0.0, 1.0}
    assert data.rows("validation") == 50
    with pytest.raises(ValueError, match="outside"):
        data.read("test", 40, 20)
    with pytest.raises(ValueError, match="part"):
        data.read("holdout", 0, 1)
    with pytest.raises(ValueError, match="id_order"):
        embcomp.SyntheticCtr(id_order="shuffled")


def test_auc_and_logloss_against_plain_twins():
    rng = np.random.default_rng(4)
    labels = (rng.random(500) < 0.3).astype(np.float32)
    scores = (labels * 0.5 + rng.random(500)).astype(np.float32)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    pairs = positives[:, None] - negatives[None, :]
    expected = (np.sum(pairs > 0) + 0.5 * np.sum(pairs == 0)) / pairs.size
    assert embcomp.auc(scores, labels) == pytest.approx(expected, abs=1e-12)
    p = np.clip(scores / 2, 0.01, 0.99).astype(np.float32)
    expected_loss = -np.mean(labels * np.log(p.astype(np.float64))
                             + (1 - labels) * np.log(1 - p.astype(np.float64)))
    assert embcomp.logloss(p, labels) == pytest.approx(expected_loss, rel=1e-5)
    with pytest.raises(ValueError, match="entries"):
        embcomp.auc(scores, labels[:10])
    with pytest.raises(TypeError, match="float32"):
        embcomp.auc(scores.astype(np.float64), labels)


@pytest.fixture
def torch_dlrm(monkeypatch):
    """The example module (its directory stays on sys.path for processes it spawns)."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import torch_dlrm

    return torch_dlrm


@pytest.mark.parametrize("method", ["hash", "torch"])
def test_the_torch_dlrm_example_learns(method, torch_dlrm):
    result = torch_dlrm.main(["--method", method, "--ratio", "10", "--rows", "20000",
                              "--scale", "0.0002"])
    assert result["auc"] > 0.6  # the Bayes AUC is about 0.8; a model that learns nothing, 0.5
    assert result["ratio"] >= (10.0 if method == "hash" else 1.0)


def test_the_torch_dlrm_example_trains_on_two_processes(torch_dlrm):
    # torch.multiprocessing.spawn raises if a process fails (or the processes' tables differ in
    # batch sizes and refuse the step).
    torch_dlrm.main(["--method", "cafe", "--ratio", "10", "--rows", "4096", "--scale", "0.0002",
                     "--processes", "2"])
