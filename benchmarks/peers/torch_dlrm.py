#!/usr/bin/python3
"""PyTorch peer of embcomp_train_bench's `dlrm_step` (and, with --model, `wdl_step` and
`dcn_step`): one training step, same model, sizes, embedding rows and optimizer, on the same CPU.

Model (benchmark-protocol.md §2): bottom MLP 13 -> 512 -> 256 -> 64 -> d (ReLU after every
layer), 26 embedding vectors of dim d, dot interaction of [bottom output; 26 embeddings] (strict
lower triangle of the 27 x 27 Gram matrix, 351 terms) concatenated with the bottom output, top
MLP (d + 351) -> 512 -> 256 -> 1 (ReLU hidden, no activation on the logit), BCEWithLogitsLoss
(mean over the batch). Xavier-normal weights, zero biases, as embcomp.
--model wdl (embcomp's models/wdl.hpp): x = [26 embeddings flattened; 13 dense], logit =
deep(x) + wide(x), deep x -> 256 -> 256 -> 1 (ReLU hidden), wide Linear(x -> 1) without bias.
--model dcn (models/dcn.hpp): x0 as WDL's x, 3 cross layers x_{l+1} = x0 * (x_l w) + x_l + b
(w [n x 1], b [n] zero), deep x0 -> 256 -> 256 -> 256 (ReLU, ReLU, none), logit =
Linear([cross out; deep out] -> 1).

Embeddings: embcomp's `hash` method at --ratio, tables=shared: one table of
M = floor(total_rows / ratio) rows (total_rows: the synthetic Criteo cardinalities
max(2, round(n_f * scale)), summed) that every field hashes its global id (offset_f + id) into.
Here it is an nn.EmbeddingBag(M, d, mode='sum', sparse=True) with one id per bag (as PyTorch's
DLRM), and the bucket is (global id * odd constant) mod M, computed inside the timed step
(embcomp hashes with XXH64 inside its lookup). --rows overrides M (run_training_comparison.py
passes the row count embcomp_train_bench reports).

Data: 16 pregenerated batches cycled; field f draws a bounded Zipf(1.1) rank in [1, n_f] like
embcomp's SyntheticCtr (id = rank - 1); dense features log(1 + floor(exp(N(1, 1.5)))), labels
Bernoulli(0.26). Measured, on --threads threads (torch.set_num_threads): forward + backward +
optimizer step (SGD by default, lr 1e-3; torch.optim.SGD handles the sparse embedding
gradient; --optimizer adam: Adam for the MLPs, SparseAdam for the table), after --warmup untimed steps; samples/s of --repetitions measurements of at least
--min-time seconds each, the median reported (all of them are in the JSON).

Run with Debian's python3-torch (/usr/bin/python3) or the current peers' python
(benchmarks/peers/peer_env.py):
  /usr/bin/python3 benchmarks/peers/torch_dlrm.py --ratio 5 --dim 16 --batch 128 --json
"""
import argparse
import json
import statistics
import sys
import time

import torch

CRITEO = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
          27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]
NUM_DENSE = 13
N_BATCHES = 16
HASH_MULTIPLIER = 0x9E3779B1  # odd: a bijection before the modulo


def scaled_cardinalities(scale):
    """embcomp::scaled_cardinalities(criteo_kaggle_schema(), scale) (min 2, round half away)."""
    return [max(2, int(n * scale + 0.5)) for n in CRITEO]


def hash_rows(total_rows, ratio):
    """Rows of embcomp's `hash` table (tables=shared): floor(floor(full bytes / ratio) / row
    bytes), at most total_rows."""
    row_bytes = 4.0  # per element; the dim cancels
    return min(total_rows, int((total_rows * row_bytes // ratio) // row_bytes))


def mlp(widths, last_relu):
    layers = []
    for i in range(len(widths) - 1):
        linear = torch.nn.Linear(widths[i], widths[i + 1])
        torch.nn.init.xavier_normal_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i + 2 < len(widths) or last_relu:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class HashedEmbedding(torch.nn.Module):
    """The shared hash table: ids [B x F] local ids -> [B x F x d]."""

    def __init__(self, rows, dim, offsets):
        super().__init__()
        self.embedding = torch.nn.EmbeddingBag(rows, dim, mode="sum", sparse=True)
        self.register_buffer("field_offsets", offsets)
        self.rows = rows

    def forward(self, ids):
        batch, fields = ids.shape
        keys = (ids + self.field_offsets).reshape(-1)
        rows = torch.remainder(keys * HASH_MULTIPLIER, self.rows)
        bag_offsets = torch.arange(rows.numel(), dtype=torch.int64)
        return self.embedding(rows, bag_offsets).view(batch, fields, -1)


class Dlrm(torch.nn.Module):
    def __init__(self, rows, dim, fields, offsets):
        super().__init__()
        self.bottom = mlp([NUM_DENSE, 512, 256, 64, dim], last_relu=True)
        self.embedding = HashedEmbedding(rows, dim, offsets)
        vectors = fields + 1
        self.top = mlp([dim + vectors * (vectors - 1) // 2, 512, 256, 1], last_relu=False)
        li, lj = torch.tril_indices(vectors, vectors, offset=-1)
        self.register_buffer("li", li)
        self.register_buffer("lj", lj)

    def forward(self, dense, ids):
        """dense [B x 13], ids [B x F] local ids -> logits [B]."""
        emb = self.embedding(ids)
        x = self.bottom(dense)
        t = torch.cat([x.unsqueeze(1), emb], dim=1)  # [B x V x d]
        z = torch.bmm(t, t.transpose(1, 2))           # [B x V x V]
        r = torch.cat([x, z[:, self.li, self.lj]], dim=1)
        return self.top(r).squeeze(1)


class Wdl(torch.nn.Module):
    def __init__(self, rows, dim, fields, offsets):
        super().__init__()
        self.embedding = HashedEmbedding(rows, dim, offsets)
        width = fields * dim + NUM_DENSE
        self.deep = mlp([width, 256, 256, 1], last_relu=False)
        self.wide = torch.nn.Linear(width, 1, bias=False)
        torch.nn.init.xavier_normal_(self.wide.weight)

    def forward(self, dense, ids):
        x = torch.cat([self.embedding(ids).flatten(1), dense], dim=1)
        return (self.deep(x) + self.wide(x)).squeeze(1)


class Dcn(torch.nn.Module):
    CROSS_LAYERS = 3

    def __init__(self, rows, dim, fields, offsets):
        super().__init__()
        self.embedding = HashedEmbedding(rows, dim, offsets)
        width = fields * dim + NUM_DENSE
        self.cross_w = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(width, 1)))
             for _ in range(self.CROSS_LAYERS)])
        self.cross_b = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.zeros(width)) for _ in range(self.CROSS_LAYERS)])
        self.deep = mlp([width, 256, 256, 256], last_relu=False)
        self.head = torch.nn.Linear(width + 256, 1)
        torch.nn.init.xavier_normal_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, dense, ids):
        x0 = torch.cat([self.embedding(ids).flatten(1), dense], dim=1)
        x = x0
        for w, b in zip(self.cross_w, self.cross_b):
            x = x0 * (x @ w) + x + b
        return self.head(torch.cat([x, self.deep(x0)], dim=1)).squeeze(1)


MODELS = {"dlrm": Dlrm, "wdl": Wdl, "dcn": Dcn}


def zipf_ids(n, count, exponent, gen):
    """count ranks of a Zipf(exponent) on [1, n], returned as ids rank - 1."""
    weights = torch.arange(1, n + 1, dtype=torch.float64).pow(-exponent)
    return torch.multinomial(weights, count, replacement=True, generator=gen)


def make_batches(card, batch, gen):
    batches = []
    for _ in range(N_BATCHES):
        ids = torch.stack([zipf_ids(n, batch, 1.1, gen) for n in card], dim=1)
        counts = torch.floor(torch.exp(1.0 + 1.5 * torch.randn(batch, NUM_DENSE, generator=gen)))
        dense = torch.log1p(counts).float()
        labels = (torch.rand(batch, generator=gen) < 0.26).float()
        batches.append((dense, ids.contiguous(), labels))
    return batches


def measure(step, min_time, repetitions, batch):
    """samples/s of each of `repetitions` measurements of at least min_time seconds."""
    rates, i = [], 0
    for _ in range(repetitions):
        iters, start = 0, time.perf_counter()
        while True:
            step(i)
            i += 1
            iters += 1
            elapsed = time.perf_counter() - start
            if iters >= 3 and elapsed >= min_time:
                break
        rates.append(iters * batch / elapsed)
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="dlrm")
    parser.add_argument("--ratio", type=float, default=5.0, help="hash compression ratio")
    parser.add_argument("--scale", type=float, default=0.001,
                        help="synthetic cardinalities as a fraction of Criteo's (embcomp --scale)")
    parser.add_argument("--rows", type=int, default=0, help="embedding rows (0: from --ratio)")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                        help="sgd: torch.optim.SGD for everything; adam: torch.optim.Adam for the "
                             "MLPs and SparseAdam (lazy rows, like embcomp's Adam) for the table")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    card = scaled_cardinalities(args.scale)
    rows = args.rows if args.rows > 0 else hash_rows(sum(card), args.ratio)
    offsets = torch.tensor([sum(card[:f]) for f in range(len(card))], dtype=torch.int64)
    model = MODELS[args.model](rows, args.dim, len(card), offsets)
    if args.optimizer == "sgd":
        optimizers = [torch.optim.SGD(model.parameters(), lr=args.lr)]
    else:
        dense = [p for name, p in model.named_parameters() if not name.startswith("embedding.")]
        optimizers = [torch.optim.Adam(dense, lr=args.lr),
                      torch.optim.SparseAdam(list(model.embedding.parameters()), lr=args.lr)]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = make_batches(card, args.batch, torch.Generator().manual_seed(1))

    def step(i):
        dense, ids, labels = batches[i % N_BATCHES]
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(dense, ids), labels)
        loss.backward()
        for opt in optimizers:
            opt.step()

    for i in range(args.warmup):
        step(i)
    rates = measure(step, args.min_time, args.repetitions, args.batch)
    result = {"model": args.model, "rows": rows, "dim": args.dim, "batch": args.batch,
              "threads": args.threads, "optimizer": args.optimizer, "torch": torch.__version__,
              "samples_per_s": statistics.median(rates), "samples_per_s_all": rates}
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>18}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
