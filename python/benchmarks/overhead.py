"""The cost of the Python and PyTorch layers: one training step of a table through the binding
(embcomp.Table on NumPy arrays) and through embcomp.torch.CompressedEmbedding, against the C++
benchmark's step of the same table on the same workload, measured in the same run.

    python3 python/benchmarks/overhead.py build/ci/benchmarks/embcomp_bench [--method hash]
        [--threads 2] [--rounds 7]

The workload is embcomp_bench's "small" one: the 26 Criteo fields scaled to 1.5 MiB of fp32
rows at d = 16, batches of 4096 samples with uniform ids, dE ~ N(0, 0.01^2), Adam, the table at
100x. A step is forward + backward + the optimizer step + after_step in all three, on the same
number of OpenMP threads (--threads: EMBCOMP_BENCH_THREADS for the C++ benchmark,
embcomp.set_num_threads here; importing torch can leave the library 1 thread otherwise). Prints
each layer's steps/s as a ratio against the C++ figures (1.0 = no overhead): embcomp_bench's
(another process) and a C++ loop of the same step in this process (embcomp._embcomp._train_steps,
no Python between steps), which sees the same machine state as the Python layers it alternates
with: on a noisy machine, the fairer reference.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np

import embcomp
from embcomp import _embcomp

CRITEO = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27,
          14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]
BATCH, DIM, SMALL_BYTES = 4096, 16, 1.5 * 1024 * 1024


def small_schema():
    """benchmarks/harness.cpp's make_schema(Size::small, 16)."""
    scale = SMALL_BYTES / (DIM * 4.0) / sum(CRITEO)
    return [max(1, int(np.floor(n * scale + 0.5))) for n in CRITEO]


def seconds_per_step(step, batches, repetitions=5, steps=40):
    step(batches[-1])  # untimed: allocates the optimizer state
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        for i in range(steps):
            step(batches[i % len(batches)])
        times.append((time.perf_counter() - start) / steps)
    return sorted(times)[len(times) // 2]


def loop_seconds_per_step(run_steps, repetitions=5, steps=40):
    """seconds_per_step of a loop in C++: run_steps(n) trains n steps with no Python between."""
    run_steps(1)
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        run_steps(steps)
        times.append((time.perf_counter() - start) / steps)
    return sorted(times)[len(times) // 2]


def cpp_seconds_per_step(bench, method, threads):
    name = f"{method}/train/small/d{DIM}/real_time"
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "report.json")
        subprocess.run(
            [bench, f"--benchmark_filter=^{name}$", f"--benchmark_out={report}",
             "--benchmark_out_format=json", "--benchmark_repetitions=5",
             "--benchmark_report_aggregates_only=true"],
            check=True, capture_output=True, env={**os.environ, "EMBCOMP_BENCH_LARGE": "0", "EMBCOMP_BENCH_THREADS": str(threads)})
        with open(report) as file:
            runs = json.load(file)["benchmarks"]
    for run in runs:
        if run.get("aggregate_name") == "median":
            unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[run["time_unit"]]
            return run["real_time"] * unit
    raise RuntimeError(f"{bench} reported no median for {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", help="path to embcomp_bench")
    parser.add_argument("--method", default="hash")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cardinalities = small_schema()
    rng = np.random.default_rng(1)
    batches = [np.stack([rng.integers(0, n, BATCH) for n in cardinalities], axis=1)
               for _ in range(8)]
    dE = (rng.standard_normal((BATCH * len(cardinalities), DIM)) * 0.01).astype(np.float32)

    table = embcomp.Table(args.method, cardinalities, dim=DIM, ratio=100.0, seed=42)
    adam = embcomp.Adam(0.01)
    grads = None

    def binding_step(ids):
        nonlocal grads
        table.forward(ids)
        grads = table.backward(ids, dE, grads)
        adam.step(grads)
        table.after_step(adam)

    cpp_table = embcomp.Table(args.method, cardinalities, dim=DIM, ratio=100.0, seed=42)
    cpp_adam = embcomp.Adam(0.01)

    def cpp_steps(steps):
        _embcomp._train_steps(cpp_table, cpp_adam, batches, dE, steps)

    layers = {"C++ (embcomp_bench)": lambda: cpp_seconds_per_step(args.bench, args.method,
                                                                  args.threads),
              "C++ in this process": lambda: loop_seconds_per_step(cpp_steps),
              "Python binding": lambda: seconds_per_step(binding_step, batches)}
    try:
        import torch

        from embcomp.torch import CompressedEmbedding

        module = CompressedEmbedding(args.method, cardinalities, dim=DIM, ratio=100.0, seed=42,
                                     optimizer="adam", lr=0.01)
        upstream = torch.from_numpy(dE).view(BATCH, len(cardinalities), DIM)
        tensors = [torch.from_numpy(b) for b in batches]
        layers["torch CompressedEmbedding"] = lambda: seconds_per_step(
            lambda ids: module(ids).backward(upstream), tensors)
        torch.set_num_threads(args.threads)
    except ImportError:
        print("torch is not installed: the module's figure is left out")
    embcomp.set_num_threads(args.threads)  # after importing torch, which may have changed it
    # The machine is shared and noisy: the layers take turns, and each figure is the median of
    # its rounds.
    rounds = {name: [] for name in layers}
    for _ in range(args.rounds):
        for name, measure in layers.items():
            rounds[name].append(measure())
    results = {name: sorted(times)[len(times) // 2] for name, times in rounds.items()}
    bench, loop = results["C++ (embcomp_bench)"], results["C++ in this process"]
    print(f"{args.method} at 100x, batch {BATCH} x {len(cardinalities)} fields, d = {DIM}, Adam, "
          f"{args.threads} thread(s), median of {args.rounds} interleaved rounds")
    for name, seconds in results.items():
        print(f"{name:>28}: {seconds * 1e3:8.3f} ms/step, {bench / seconds:5.2f}x embcomp_bench's "
              f"rate, {loop / seconds:5.2f}x the in-process C++ loop's")


if __name__ == "__main__":
    main()
