#!/usr/bin/env python3
"""FBGEMM peer of embcomp_bench's `full` benchmarks: the table-batched embedding (TBE) under
TorchRec, on the CPU, at the same sizes, dims and batches as torch_embeddingbag.py.

One SplitTableBatchedEmbeddingBagsCodegen holds the 26 fields as 26 tables (Criteo Kaggle
proportions, the same rounding as embcomp::bench::make_schema), fp32 weights on the host, SUM
pooling of one id per bag. A batch is 4096 samples x 26 fields = 106496 lookups, uniform random
ids per field, 16 pregenerated batches cycled (2 for the small size). Measured:
  forward                 out = tbe(indices, offsets)
  train_<optimizer>       forward + out.backward(dE) with the optimizer fused into the backward:
                          exact_sgd (embcomp's SGD) and exact_rowwise_adagrad (embcomp's
                          row-wise Adagrad), lr 1e-3
rows/s counts lookups, the best of --repetitions measurements.

It needs fbgemm-gpu-cpu and a torch it loads with (fbgemm-gpu-cpu 1.9.0 and torch 2.14.1 from
PyPI): benchmarks/peers/peer_env.py creates that virtual environment once and prints its python.
  $(python3 benchmarks/peers/peer_env.py) benchmarks/peers/fbgemm_tbe.py --size large --json
"""
import argparse
import os
import sys
import time

import torch
from fbgemm_gpu.split_embedding_configs import EmbOptimType, SparseType
from fbgemm_gpu.split_table_batched_embeddings_ops_common import EmbeddingLocation, PoolingMode
from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
    ComputeDevice,
    SplitTableBatchedEmbeddingBagsCodegen,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_embeddingbag import (  # noqa: E402
    BATCH,
    add_workload_arguments,
    cardinalities,
    print_result,
    timed,
)

OPTIMIZERS = {"sgd": EmbOptimType.EXACT_SGD, "rowwise_adagrad": EmbOptimType.EXACT_ROWWISE_ADAGRAD}


def make_tbe(card, dim, optimizer):
    specs = [(n, dim, EmbeddingLocation.HOST, ComputeDevice.CPU) for n in card]
    return SplitTableBatchedEmbeddingBagsCodegen(
        embedding_specs=specs, optimizer=OPTIMIZERS[optimizer], learning_rate=1e-3, eps=1e-8,
        pooling_mode=PoolingMode.SUM, weights_precision=SparseType.FP32,
        output_dtype=SparseType.FP32)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_arguments(parser)
    parser.add_argument("--optimizers", default="sgd,rowwise_adagrad",
                        help="comma-separated, from " + ", ".join(OPTIMIZERS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    optimizers = [o for o in args.optimizers.split(",") if o]
    for o in optimizers:
        if o not in OPTIMIZERS:
            parser.error(f"unknown optimizer '{o}'; known: {', '.join(OPTIMIZERS)}")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    card = cardinalities(args.size, args.dim, args.large_gib)
    fields = len(card)
    lookups = BATCH * fields
    n_batches = 2 if args.size == "small" else 16
    gen = torch.Generator().manual_seed(1)
    # TBE takes the ids table-major: table t's BATCH ids, then table t+1's.
    batches = [torch.cat([torch.randint(0, n, (BATCH,), generator=gen) for n in card])
               for _ in range(n_batches)]
    offsets = torch.arange(lookups + 1, dtype=torch.int64)
    dE = torch.randn(BATCH, fields * args.dim, generator=gen) * 1e-2

    import fbgemm_gpu
    result = {"size": args.size, "dim": args.dim, "rows": sum(card),
              "table_mib": sum(card) * args.dim * 4 / 1024 ** 2, "threads": args.threads,
              "lookups_per_batch": lookups, "torch": torch.__version__,
              "fbgemm_gpu": getattr(fbgemm_gpu, "__version__", "?")}
    for k, optimizer in enumerate(optimizers):
        t0 = time.perf_counter()
        tbe = make_tbe(card, args.dim, optimizer)  # one table at a time in memory
        result[f"build_{optimizer}_s"] = time.perf_counter() - t0
        if k == 0:
            def forward(i):
                with torch.no_grad():
                    tbe(batches[i % n_batches], offsets)
            sec, _ = timed(forward, args.min_time, args.repetitions)
            result["forward_rows_per_s"] = lookups / sec

        def train(i):
            tbe(batches[i % n_batches], offsets).backward(dE)
        sec, _ = timed(train, args.min_time, args.repetitions)
        result[f"train_{optimizer}_rows_per_s"] = lookups / sec
        del tbe

    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
