#!/usr/bin/python3
"""PyTorch peer of embcomp_bench's `full` benchmarks, at the same sizes, dims and batches.

One nn.EmbeddingBag(num_rows, dim, mode='sum', sparse=True) holds every field's rows stacked
(field f at rows [offset_f, offset_f + n_f)), like embcomp's `full` table. A batch is 4096
samples x 26 fields = 106496 lookups, one id per bag (offsets = arange), uniform random ids per
field, 16 pregenerated batches cycled (2 for the small size). Measured, on 2 threads:
  forward   out = bag(ids, offsets)
  train     forward + out.backward(dE) (dE random) + torch.optim.SparseAdam step
rows/s counts lookups, the best of --repetitions measurements. Table sizes follow benchmarks/harness.cpp: Criteo Kaggle proportions
scaled to 1.5 MiB (small) or EMBCOMP_BENCH_LARGE_GIB GiB (large, default 4) of fp32 rows.

Run with the system python, which has Debian's python3-torch:
  /usr/bin/python3 benchmarks/peers/torch_embeddingbag.py --size large --dim 16 --json
"""
import argparse
import json
import math
import os
import sys
import time

import torch

BATCH = 4096
CRITEO = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
          27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]


def size_bytes(size, large_gib):
    return 1.5 * 1024 ** 2 if size == "small" else large_gib * 1024 ** 3


def cardinalities(size, dim, large_gib):
    """The same rounding as embcomp::bench::make_schema."""
    target_rows = size_bytes(size, large_gib) / (dim * 4.0)
    scale = target_rows / float(sum(CRITEO))
    return [max(1, int(math.floor(n * scale + 0.5))) for n in CRITEO]


def timed(fn, min_time, repetitions, min_iters=3):
    """Wall seconds per call of fn(i), after two untimed warm-up calls: the best of
    `repetitions` measurements of at least min_time seconds each (noise only slows a run)."""
    fn(0)
    fn(1)
    best, total_iters, i = float("inf"), 0, 0
    for _ in range(repetitions):
        iters, start = 0, time.perf_counter()
        while True:
            fn(i)
            i += 1
            iters += 1
            elapsed = time.perf_counter() - start
            if iters >= min_iters and elapsed >= min_time:
                break
        best = min(best, elapsed / iters)
        total_iters += iters
    return best, total_iters


def print_result(result, as_json):
    """One JSON object, or one aligned `key: value` line per entry."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:>{width}}: {v:.4g}" if isinstance(v, float) else f"{k:>{width}}: {v}")


def add_workload_arguments(parser):
    """The options every peer of embcomp_bench's `full` benchmarks takes."""
    parser.add_argument("--size", choices=["small", "large"], default="large")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--large-gib", type=float,
                        default=float(os.environ.get("EMBCOMP_BENCH_LARGE_GIB", "4")))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--repetitions", type=int, default=5,
                        help="measurements per benchmark; the best is reported")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_arguments(parser)
    parser.add_argument("--only", choices=["forward", "train", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    card = cardinalities(args.size, args.dim, args.large_gib)
    rows = sum(card)
    offsets_f = torch.tensor([sum(card[:f]) for f in range(len(card))], dtype=torch.int64)
    fields = len(card)
    lookups = BATCH * fields

    n_batches = 2 if args.size == "small" else 16
    gen = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(n_batches):
        local = torch.stack([torch.randint(0, n, (BATCH,), generator=gen) for n in card], dim=1)
        batches.append((local + offsets_f).reshape(-1).contiguous())  # global ids, [B*F]
    bag_offsets = torch.arange(lookups, dtype=torch.int64)
    dE = torch.randn(lookups, args.dim, generator=gen) * 1e-2

    t0 = time.perf_counter()
    bag = torch.nn.EmbeddingBag(rows, args.dim, mode="sum", sparse=True)
    opt = torch.optim.SparseAdam(bag.parameters(), lr=1e-3)
    build_s = time.perf_counter() - t0

    result = {"size": args.size, "dim": args.dim, "rows": rows,
              "table_mib": rows * args.dim * 4 / 1024 ** 2, "threads": args.threads,
              "lookups_per_batch": lookups, "torch": torch.__version__, "build_s": build_s}

    if args.only in ("forward", "both"):
        def forward(i):
            with torch.no_grad():
                bag(batches[i % n_batches], bag_offsets)
        sec, iters = timed(forward, args.min_time, args.repetitions)
        result["forward_rows_per_s"] = lookups / sec
        result["forward_iters"] = iters

    if args.only in ("train", "both"):
        def train(i):
            out = bag(batches[i % n_batches], bag_offsets)
            out.backward(dE)
            opt.step()
            opt.zero_grad(set_to_none=True)
        sec, iters = timed(train, args.min_time, args.repetitions)
        result["train_rows_per_s"] = lookups / sec
        result["train_iters"] = iters

    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
