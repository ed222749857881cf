#!/usr/bin/python3
"""DLRM training throughput: embcomp vs PyTorch, the same model, step and CPU, in one run.

Builds nothing. Give it a built embcomp_train_bench (configure with -DEMBCOMP_BUILD_BENCHMARKS=ON):

  /usr/bin/python3 benchmarks/run_training_comparison.py build/benchmarks/embcomp_train_bench
  /usr/bin/python3 benchmarks/run_training_comparison.py <bench> --threads 1,2 --rounds 3

Setting (the issue's): DLRM, batch 128, dim 16, `hash` at 5x (tables=shared), SGD lr 1e-3
(--optimizer adam: Adam, lazy on the embedding rows, as the reference README's recipe),
synthetic Criteo-like ids (Zipf 1.1 per field, cardinalities of Criteo Kaggle x 0.001).
Each round runs, one after the other, for each thread count:
  1. embcomp_train_bench dlrm_step/hash/5x/b128/d16/<optimizer>/threads:<n> (lookup, forward,
     BCE, backward, table backward, optimizer step; pregenerated batches), --repetitions
     measurements;
  2. benchmarks/peers/torch_dlrm.py with --rows = the table_rows embcomp reported, the same
     thread count and optimizer, --repetitions measurements.
and prints samples/s (median of the measurements) of both and their ratio; with several rounds
the ratios of the rounds and their median follow. Goals: embcomp >= 5x PyTorch and >= 16,000
samples/s at 2 threads.

Both sides run under the same environment; OMP_WAIT_POLICY is passed to both (default
passive: on a shared machine, spinning OpenMP threads steal the core their peer needs; use
--wait-policy '' to leave it unset).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "peers", "torch_dlrm.py")
GOAL_RATIO = 5.0
GOAL_SAMPLES = 16000.0


def run_embcomp(bench, optimizer, threads, min_time, repetitions, env):
    pattern = f"^dlrm_step/hash/5x/b128/d16/{optimizer}/threads:{threads}/real_time$"
    cmd = [bench, f"--benchmark_filter={pattern}", "--benchmark_format=json",
           f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={repetitions}"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"]
            if b.get("run_type") == "iteration" and not b.get("error_occurred")]
    if not runs:
        sys.exit("run_training_comparison: embcomp_train_bench ran no benchmark")
    rates = [b["items_per_second"] for b in runs]
    return {"samples_per_s": statistics.median(rates), "samples_per_s_all": rates,
            "table_rows": int(runs[0]["table_rows"])}


def run_torch(optimizer, threads, rows, min_time, repetitions, env):
    cmd = ["/usr/bin/python3", TORCH_SCRIPT, "--ratio", "5", "--dim", "16", "--batch", "128",
           "--rows", str(rows), "--threads", str(threads), "--optimizer", optimizer,
           "--min-time", str(min_time),
           "--repetitions", str(repetitions), "--json"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", help="path of the built embcomp_train_bench")
    parser.add_argument("--threads", default="2", help="comma-separated thread counts")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--repetitions", type=int, default=5, help="measurements per side")
    parser.add_argument("--rounds", type=int, default=1,
                        help="embcomp-then-PyTorch rounds; the median ratio is reported")
    parser.add_argument("--wait-policy", default="passive",
                        help="OMP_WAIT_POLICY for both sides ('' leaves the environment as is)")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.wait_policy:
        env["OMP_WAIT_POLICY"] = args.wait_policy
    thread_counts = [int(t) for t in args.threads.split(",")]
    results = {t: [] for t in thread_counts}
    for _ in range(args.rounds):
        for t in thread_counts:
            ours = run_embcomp(args.bench, args.optimizer, t, args.min_time, args.repetitions,
                               env)
            peer = run_torch(args.optimizer, t, ours["table_rows"], args.min_time,
                             args.repetitions, env)
            results[t].append((ours, peer))

    print(f"\nDLRM, batch 128, dim 16, hash 5x, {args.optimizer}; samples/s = median of {args.repetitions} "
          f"measurements; OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(unset)')}")
    print(f"{'threads':>7s} {'round':>5s} {'embcomp':>10s} {'pytorch':>10s} {'ratio':>7s}")
    met = True
    for t in thread_counts:
        ratios, ours_rates = [], []
        for i, (ours, peer) in enumerate(results[t]):
            ratio = ours["samples_per_s"] / peer["samples_per_s"]
            ratios.append(ratio)
            ours_rates.append(ours["samples_per_s"])
            print(f"{t:7d} {i + 1:5d} {ours['samples_per_s']:10.0f} "
                  f"{peer['samples_per_s']:10.0f} {ratio:7.2f}")
        ratio, rate = statistics.median(ratios), statistics.median(ours_rates)
        if t == 2:
            ok = ratio >= GOAL_RATIO and rate >= GOAL_SAMPLES
            met = met and ok
            print(f"{'':7s} {'med':>5s} {rate:10.0f} {'':10s} {ratio:7.2f}  goals >= {GOAL_RATIO:g}x "
                  f"and >= {GOAL_SAMPLES:.0f}/s: {'met' if ok else 'MISSED'}")
        elif len(ratios) > 1:
            print(f"{'':7s} {'med':>5s} {rate:10.0f} {'':10s} {ratio:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
