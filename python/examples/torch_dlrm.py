"""A PyTorch DLRM whose embedding layer is an embcomp table: any method behind one flag.

    python3 python/examples/torch_dlrm.py --method hash --ratio 1000
    python3 python/examples/torch_dlrm.py --method torch        # nn.EmbeddingBag at 1x
    python3 python/examples/torch_dlrm.py --method hash --ratio 1000 --processes 2
    torchrun --nproc_per_node 2 python/examples/torch_dlrm.py --method hash --ratio 1000

Trains on embcomp's synthetic CTR data (a known Bayes-optimal AUC) for one epoch: the bottom
MLP on the dense features, the embeddings from CompressedEmbedding (its optimizer fused into
the backward), DLRM's pairwise dot interaction, the top MLP; torch.optim steps the dense model
only. Prints the test AUC (next to the Bayes AUC), the table's bytes and samples/s.

On several processes (gloo, CPU: --processes N, or torchrun, which Debian's torch 1.13 breaks
on Python 3.11) each process takes its share of every batch: the dense model is
wrapped in DistributedDataParallel and the table replicated (CompressedEmbedding's
process_group), so every process holds the same model throughout.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch

import embcomp
from embcomp.torch import CompressedEmbedding


class TorchEmbedding(torch.nn.Module):
    """The uncompressed baseline: one nn.EmbeddingBag over the stacked fields, at 1x."""

    def __init__(self, cardinalities, dim):
        super().__init__()
        self.register_buffer("offsets", torch.tensor(np.cumsum([0] + cardinalities[:-1])))
        self.bag = torch.nn.EmbeddingBag(sum(cardinalities), dim, mode="sum", sparse=True)
        torch.nn.init.uniform_(self.bag.weight, -0.05, 0.05)
        self.num_fields, self.dim = len(cardinalities), dim

    def forward(self, ids):
        flat = (ids + self.offsets).reshape(-1)
        return self.bag(flat, torch.arange(flat.numel())).view(-1, self.num_fields, self.dim)


def mlp(sizes, last_activation):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class Dlrm(torch.nn.Module):
    def __init__(self, embedding, num_dense, dim, top=(64, 32)):
        super().__init__()
        self.embedding = embedding
        self.bottom = mlp([num_dense, 64, dim], last_activation=True)
        vectors = embedding.num_fields + 1
        self.pairs = torch.triu_indices(vectors, vectors, offset=1)
        self.top = mlp([dim + self.pairs.shape[1], *top, 1], last_activation=False)

    def forward(self, dense, ids):
        x = self.bottom(dense)
        vectors = torch.cat([x.unsqueeze(1), self.embedding(ids)], dim=1)  # [B, F+1, d]
        dots = torch.bmm(vectors, vectors.transpose(1, 2))[:, self.pairs[0], self.pairs[1]]
        return self.top(torch.cat([x, dots], dim=1)).squeeze(1)


def build_embedding(args, cardinalities, distributed):
    if args.method == "torch":
        if distributed:
            raise SystemExit("--method torch (the baseline) runs in one process")
        return TorchEmbedding(cardinalities, args.dim)
    return CompressedEmbedding(args.method, cardinalities, dim=args.dim, ratio=args.ratio,
                               seed=args.seed, optimizer=args.table_optimizer, lr=args.table_lr,
                               process_group=True if distributed else None)


def table_bytes(embedding):
    if isinstance(embedding, CompressedEmbedding):
        return embedding.memory()["serving_bytes"]
    return embedding.bag.weight.numel() * 4


def evaluate(model, data, part, batch):
    model.eval()
    scores, labels = [], []
    with torch.no_grad():
        for first in range(0, data.rows(part), batch):
            y, dense, ids = data.read(part, first, min(batch, data.rows(part) - first))
            scores.append(torch.sigmoid(model(torch.from_numpy(dense), torch.from_numpy(ids))))
            labels.append(y)
    model.train()
    return embcomp.auc(torch.cat(scores).numpy(), np.concatenate(labels))


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="hash", help="an embcomp spec, or 'torch'")
    parser.add_argument("--ratio", type=float, default=100.0)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--rows", type=int, default=200_000, help="training rows")
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--scale", type=float, default=0.001,
                        help="Criteo Kaggle's cardinalities times this")
    parser.add_argument("--table-optimizer", default="adam")
    parser.add_argument("--table-lr", type=float, default=0.01)
    parser.add_argument("--lr", type=float, default=0.001, help="the dense model's Adam")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1,
                        help="train on this many processes (gloo), started here; or use torchrun")
    return parser.parse_args(argv)


def train(args, rank=0, world=1):
    """Trains one epoch as process `rank` of `world` (process group initialised when > 1);
    returns the test AUC, the table's bytes and ratio, and samples/s."""
    distributed = world > 1
    if args.batch % world != 0:
        raise SystemExit(f"--batch {args.batch} does not split over {world} processes")
    local = args.batch // world
    torch.manual_seed(args.seed)  # the same dense model on every process
    base = embcomp.SyntheticCtr(train_rows=1, validation_rows=1, test_rows=1)
    cardinalities = [max(2, round(n * args.scale / 0.001)) for n in base.cardinalities]
    held_out = max(args.rows // 10, args.batch)
    data = embcomp.SyntheticCtr(cardinalities=cardinalities, train_rows=args.rows,
                                validation_rows=held_out, test_rows=held_out, seed=args.seed)
    embedding = build_embedding(args, cardinalities, distributed)
    model = Dlrm(embedding, data.num_dense, args.dim)
    dense_params = [p for name, p in model.named_parameters() if not name.startswith("embedding")]
    optimizers = [torch.optim.Adam(dense_params, lr=args.lr)]
    trained = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    if args.method == "torch":
        optimizers.append(torch.optim.SparseAdam(list(embedding.parameters()), lr=args.table_lr))
    loss_fn = torch.nn.BCEWithLogitsLoss()

    start = time.perf_counter()
    for first in range(0, args.rows - args.batch + 1, args.batch):
        y, dense, ids = data.read("train", first + rank * local, local)
        logits = trained(torch.from_numpy(dense), torch.from_numpy(ids))
        loss = loss_fn(logits, torch.from_numpy(y))
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()  # CompressedEmbedding's table steps here
        for optimizer in optimizers:
            optimizer.step()
    seconds = time.perf_counter() - start
    auc = evaluate(model, data, "test", 4096)
    full_bytes = sum(cardinalities) * args.dim * 4
    used = table_bytes(embedding)
    result = {"method": args.method, "auc": auc, "bayes_auc": data.bayes_auc("test"),
              "bytes": used, "ratio": full_bytes / used, "samples_per_second": args.rows / seconds}
    if rank == 0:
        on = f" on {world} processes" if distributed else ""
        print(f"method {args.method}{on}: test AUC {auc:.4f} (Bayes {result['bayes_auc']:.4f}), "
              f"table {used} B ({result['ratio']:.1f}x), "
              f"{result['samples_per_second']:.0f} samples/s")
    return result


def spawned(rank, args, init_file):
    """A process started by --processes: joins the group through a file, trains."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=args.processes)
    try:
        train(args, rank, args.processes)
    finally:
        torch.distributed.destroy_process_group()


def main(argv=None):
    args = parse(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun
        torch.distributed.init_process_group("gloo")
        return train(args, torch.distributed.get_rank(), torch.distributed.get_world_size())
    if args.processes > 1:
        with tempfile.TemporaryDirectory() as scratch:
            torch.multiprocessing.spawn(spawned, args=(args, os.path.join(scratch, "init")),
                                        nprocs=args.processes)
        return None
    return train(args)


if __name__ == "__main__":
    main()
