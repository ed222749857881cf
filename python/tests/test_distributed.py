"""Two processes (torch.distributed, gloo), each on the mean loss of its half of every batch,
train the same table as one process does on the mean loss of the global batch: bit for bit,
cafe's sketch included. Skipped where torch is not installed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from embcomp.torch import CompressedEmbedding  # noqa: E402
from support import CARDINALITIES, DIM, skewed_ids  # noqa: E402

SPEC = "cafe:threshold=2"
GLOBAL_BATCH = 64
STEPS = 5


def global_batch(step):
    """The global batch of a step: ids [64, F] and the upstream gradient [64, F, d]."""
    ids = torch.from_numpy(skewed_ids(GLOBAL_BATCH, 100 + step))
    upstream = torch.randn(GLOBAL_BATCH, len(CARDINALITIES), DIM,
                           generator=torch.Generator().manual_seed(step))
    return ids, upstream


def train(module, rank=0, world=1):
    """STEPS fused steps on the mean loss of this process's contiguous share of each batch."""
    share = GLOBAL_BATCH // world
    for step in range(STEPS):
        ids, upstream = global_batch(step)
        rows = slice(rank * share, (rank + 1) * share)
        (module(ids[rows]) * upstream[rows]).sum(dim=(1, 2)).mean().backward()
    return module.table.save_bytes()


def make_module(process_group=None):
    return CompressedEmbedding(SPEC, CARDINALITIES, dim=DIM, ratio=10.0, seed=1, optimizer="adam",
                               lr=0.05, process_group=process_group)


def worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        module = make_module(process_group=True)
        (out_dir / f"rank{rank}.bin").write_bytes(train(module, rank, world))
        # Unequal local batches (3 and 5 samples) are refused on every process.
        ids, upstream = global_batch(0)
        short = slice(0, 3 if rank == 0 else 5)
        out = module(ids[short])
        try:
            (out * upstream[short]).sum().backward()
            refused = b"no"
        except ValueError as error:
            refused = b"yes" if "differ in size" in str(error) else b"other"
        (out_dir / f"refused{rank}.txt").write_bytes(refused)
    finally:
        dist.destroy_process_group()


def test_two_processes_train_what_one_process_trains_on_the_global_batch(tmp_path):
    mp.spawn(worker, args=(2, str(tmp_path / "init"), tmp_path), nprocs=2, join=True)
    single = train(make_module())
    assert (tmp_path / "rank0.bin").read_bytes() == single
    assert (tmp_path / "rank1.bin").read_bytes() == single
    assert (tmp_path / "refused0.txt").read_bytes() == b"yes"
    assert (tmp_path / "refused1.txt").read_bytes() == b"yes"
    # The data is not trivial: one process on half the batch trains another table.
    assert train(make_module(), rank=0, world=2) != single
