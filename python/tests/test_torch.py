"""embcomp.torch.CompressedEmbedding against PyTorch's own embedding and finite differences.

Skipped (reported as such) where torch is not installed.
"""

import copy
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import embcomp  # noqa: E402
from embcomp.torch import CompressedEmbedding  # noqa: E402

from support import CARDINALITIES, DIM, check_finite_differences, field_offsets  # noqa: E402
from support import skewed_ids as skewed_id_array  # noqa: E402


def skewed_ids(batch, seed):
    return torch.from_numpy(skewed_id_array(batch, seed))


def offsets():
    return torch.from_numpy(field_offsets())


def test_full_matches_torch_embedding_forward_and_gradient():
    module = CompressedEmbedding("full", CARDINALITIES, dim=DIM, seed=1, fused=False)
    weights = torch.from_numpy(module.table.parameters()["rows"].copy())
    reference = torch.nn.Embedding.from_pretrained(weights.clone(), freeze=False)
    ids = skewed_ids(64, 2)
    stacked = ids + offsets()[None, :]
    E = module(ids)
    R = reference(stacked)
    assert E.shape == (64, 4, DIM)
    assert torch.equal(E, R)
    upstream = torch.randn(64, 4, DIM, generator=torch.Generator().manual_seed(3))
    (E * upstream).sum().backward()
    (R * upstream).sum().backward()
    rows, values = module.gradients.rows()["rows"]
    expected = reference.weight.grad[torch.from_numpy(rows)]
    # Both sum each row's positions in float32, possibly in different orders.
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-6, atol=1e-6)
    touched = torch.zeros(weights.shape[0], dtype=torch.bool)
    touched[torch.from_numpy(rows)] = True
    assert torch.count_nonzero(reference.weight.grad[~touched]) == 0


def test_fused_sgd_step_matches_torch_sgd_on_the_same_weights():
    module = CompressedEmbedding("full", CARDINALITIES, dim=DIM, seed=4, optimizer="sgd", lr=0.1)
    weights = torch.from_numpy(module.table.parameters()["rows"].copy())
    reference = torch.nn.Embedding.from_pretrained(weights.clone(), freeze=False)
    sgd = torch.optim.SGD(reference.parameters(), lr=0.1)
    for step in range(3):
        ids = skewed_ids(32, 10 + step)
        upstream = torch.randn(32, 4, DIM, generator=torch.Generator().manual_seed(step))
        (module(ids) * upstream).sum().backward()
        sgd.zero_grad()
        (reference(ids + offsets()[None, :]) * upstream).sum().backward()
        sgd.step()
    np.testing.assert_allclose(
        module.table.parameters()["rows"], reference.weight.detach().numpy(), rtol=1e-6, atol=1e-6
    )
    assert module.optimizer.steps == 3


@pytest.mark.parametrize("spec,ratio", [("hash", 10.0), ("qr:op=mul", 10.0), ("mde", 4.0)])
def test_autograd_matches_finite_differences(spec, ratio):
    module = CompressedEmbedding(spec, CARDINALITIES, dim=DIM, ratio=ratio, seed=5, fused=False)
    ids = skewed_ids(16, 6)
    upstream = torch.randn(16, 4, DIM, generator=torch.Generator().manual_seed(7))

    def loss():
        with torch.no_grad():
            return float((module(ids).double() * upstream.double()).sum())

    (module(ids) * upstream).sum().backward()
    check_finite_differences(module.table, module.gradients.rows(), loss, seed=8, samples=4)


def test_a_small_recommender_trains_with_the_fused_table_and_torch_optim():
    torch.manual_seed(9)
    emb = CompressedEmbedding("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=9, lr=0.05)
    head = torch.nn.Sequential(torch.nn.Linear(4 * DIM, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    dense = torch.optim.Adam(head.parameters(), lr=0.01)
    assert all(p is not emb._anchor for p in head.parameters())
    assert list(emb.parameters()) == []  # the table is not torch's to step
    ids = skewed_ids(512, 10)
    labels = ((ids[:, 0] % 2) ^ (ids[:, 3] % 3 == 0).long()).float()  # planted in the ids
    losses = []
    for epoch in range(60):
        logits = head(emb(ids).flatten(1)).squeeze(1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        dense.zero_grad()
        loss.backward()
        dense.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert emb.optimizer.steps == 60
    assert emb.memory()["optimizer_bytes"] > 0


def test_eval_and_no_grad_look_up_without_a_graph():
    module = CompressedEmbedding("qr", CARDINALITIES, dim=DIM, ratio=10.0, seed=11)
    ids = skewed_ids(8, 12)
    train_out = module(ids)
    assert train_out.requires_grad
    module.eval()
    eval_out = module(ids)
    assert not eval_out.requires_grad
    assert torch.equal(eval_out, train_out.detach())
    module.train()
    with torch.no_grad():
        assert not module(ids).requires_grad


def test_state_dict_round_trips_the_checkpoint():
    module = CompressedEmbedding("cafe:threshold=2", CARDINALITIES, dim=DIM, ratio=10.0, seed=13)
    for step in range(4):
        ids = skewed_ids(64, 20 + step)
        module(ids).sum().backward()
    state = module.state_dict()
    assert list(state) == ["checkpoint"] and state["checkpoint"].dtype == torch.uint8
    restored = CompressedEmbedding("cafe:threshold=2", CARDINALITIES, dim=DIM, ratio=10.0, seed=99)
    restored.load_state_dict(state)
    ids = skewed_ids(32, 30)
    module.eval(), restored.eval()
    assert torch.equal(restored(ids), module(ids))
    assert bytes(restored.table.save_bytes()) == bytes(module.table.save_bytes())
    other = CompressedEmbedding("hash", CARDINALITIES, dim=DIM, ratio=10.0)
    with pytest.raises(embcomp.InvalidArgument, match="cafe"):
        other.load_state_dict(state)
    damaged = {"checkpoint": state["checkpoint"][: len(state["checkpoint"]) // 2]}
    with pytest.raises(embcomp.CheckpointError):
        other.load_state_dict(damaged)


def test_from_table_configs_takes_torchrec_style_configs():
    configs = [{"name": f"t{f}", "num_embeddings": n, "embedding_dim": DIM} for f, n in
               enumerate(CARDINALITIES)]
    module = CompressedEmbedding.from_table_configs(configs, spec="hash", ratio=10.0)
    assert module.table.cardinalities == CARDINALITIES and module.dim == DIM
    configs[2]["embedding_dim"] = 4
    with pytest.raises(ValueError, match="embedding_dim"):
        CompressedEmbedding.from_table_configs(configs, spec="hash", ratio=10.0)


def test_bad_input_raises_and_changes_nothing():
    module = CompressedEmbedding("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=14)
    before = module.table.save_bytes()
    ids = skewed_ids(8, 15)
    with pytest.raises(TypeError, match="int64"):
        module(ids.int())
    with pytest.raises(ValueError, match=r"\[batch, 4\]"):
        module(ids[:, :3])
    with pytest.raises(TypeError, match="torch.Tensor"):
        module(ids.numpy())
    bad = ids.clone()
    bad[1, 2] = 7  # field 2 has 7 ids
    with pytest.raises(embcomp.InvalidArgument, match="field 2"):
        module(bad)
    E = module(ids)
    with pytest.raises(embcomp.NonFiniteGradient):
        (E * float("nan")).sum().backward()
    with pytest.raises(ValueError, match="optimizer"):
        CompressedEmbedding("hash", CARDINALITIES, dim=DIM, ratio=10.0, optimizer="lamb")
    assert module.table.save_bytes() == before
    assert module.optimizer.steps == 0


def test_strided_ids_and_gradients_give_what_contiguous_ones_give():
    # The module views contiguous int64 ids and float32 gradients as they are, and copies any
    # other layout first (a transposed id tensor; E.sum()'s gradient, expanded with stride 0).
    ids = skewed_ids(16, 17)
    strided = ids.t().contiguous().t()
    assert not strided.is_contiguous()
    modules = [CompressedEmbedding("hash", CARDINALITIES, dim=DIM, ratio=10.0, seed=18,
                                   fused=False) for _ in range(2)]
    E = modules[0](ids)
    E_strided = modules[1](strided)
    assert torch.equal(E, E_strided)
    (E * torch.ones_like(E)).sum().backward()
    E_strided.sum().backward()
    for (rows, values), (rows_s, values_s) in zip(modules[0].gradients.rows().values(),
                                                  modules[1].gradients.rows().values()):
        np.testing.assert_array_equal(rows, rows_s)
        np.testing.assert_array_equal(values, values_s)
    # A tensor that has no memory to view is refused by torch's own checks, not viewed.
    with pytest.raises(ValueError, match="CPU tensor"):
        modules[0](torch.empty(4, 4, dtype=torch.int64, device="meta"))


def test_the_module_pickles_with_its_table():
    module = CompressedEmbedding("cafe:threshold=2", CARDINALITIES, dim=DIM, ratio=10.0, seed=16,
                                 optimizer="adam", lr=0.05)
    for step in range(3):
        module(skewed_ids(64, 40 + step)).sum().backward()
    copied = copy.deepcopy(module)
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    try:
        loaded = torch.load(buffer, weights_only=False)
    except TypeError:  # torch 1.13 has no weights_only
        buffer.seek(0)
        loaded = torch.load(buffer)
    ids = skewed_ids(32, 50)
    for other in (copied, loaded):
        assert other.table.save_bytes() == module.table.save_bytes()
        assert isinstance(other.optimizer, embcomp.Adam)
        assert other.optimizer.learning_rate == pytest.approx(0.05)
        other.eval()
    module.eval()
    assert torch.equal(copied(ids), module(ids)) and torch.equal(loaded(ids), module(ids))
    # The copy is independent: training it leaves the original as it was.
    before = module.table.save_bytes()
    copied.train()
    copied(skewed_ids(64, 60)).sum().backward()
    assert module.table.save_bytes() == before != copied.table.save_bytes()
