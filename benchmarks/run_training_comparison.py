#!/usr/bin/python3
"""CTR training throughput: embcomp vs PyTorch, the same model, step and CPU, in one run.

Builds nothing. Give it a built embcomp_train_bench (configure with -DEMBCOMP_BUILD_BENCHMARKS=ON):

  python3 benchmarks/run_training_comparison.py build/benchmarks/embcomp_train_bench
  python3 benchmarks/run_training_comparison.py <bench> --threads 1,2 --rounds 3 \
      --models dlrm,wdl,dcn --optimizers sgd,adam
  python3 benchmarks/run_training_comparison.py <bench> --peer debian   # Debian's torch 1.13

Setting: DLRM, WDL or DCN, batch 128, dim 16, `hash` at 5x (tables=shared), SGD lr 1e-3 or
Adam (lazy on the embedding rows, as the reference README's recipe), synthetic Criteo-like ids
(Zipf 1.1 per field, cardinalities of Criteo Kaggle x 0.001).
The peer (--peer): `current` (default) is PyTorch 2.14.1 from PyPI (MKL and oneDNN), in the
virtual environment benchmarks/peers/peer_env.py creates once; `debian` is Debian's
python3-torch, whose nn.Linear runs on the reference netlib BLAS.
Each round runs, one after the other, for each model, optimizer and thread count:
  1. embcomp_train_bench <model>_step/hash/5x/b128/d16/<optimizer>/threads:<n> (lookup,
     forward, BCE, backward, table backward, optimizer step; pregenerated batches),
     --repetitions measurements;
  2. benchmarks/peers/torch_dlrm.py --model <model> with --rows = the table_rows embcomp
     reported, the same thread count and optimizer, --repetitions measurements.
and prints samples/s (median of the measurements) of both and their ratio; with several rounds
the median ratio follows. Goal: embcomp >= 1.5x PyTorch 2.14 (>= 5x Debian's PyTorch).

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
sys.path.insert(0, os.path.join(HERE, "peers"))
import peer_env  # noqa: E402

TORCH_SCRIPT = os.path.join(HERE, "peers", "torch_dlrm.py")
GOAL_RATIO = {"current": 1.5, "debian": 5.0}


def run_embcomp(bench, model, optimizer, threads, min_time, repetitions, env):
    pattern = f"^{model}_step/hash/5x/b128/d16/{optimizer}/threads:{threads}/real_time$"
    cmd = [bench, f"--benchmark_filter={pattern}", "--benchmark_format=json",
           f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={repetitions}"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"]
            if b.get("run_type") == "iteration" and not b.get("error_occurred")]
    if not runs:
        sys.exit(f"run_training_comparison: embcomp_train_bench ran no benchmark for {pattern}")
    rates = [b["items_per_second"] for b in runs]
    return {"samples_per_s": statistics.median(rates), "samples_per_s_all": rates,
            "table_rows": int(runs[0]["table_rows"])}


def run_torch(python, model, optimizer, threads, rows, min_time, repetitions, env):
    cmd = [python, TORCH_SCRIPT, "--model", model, "--ratio", "5", "--dim", "16",
           "--batch", "128", "--rows", str(rows), "--threads", str(threads),
           "--optimizer", optimizer, "--min-time", str(min_time),
           "--repetitions", str(repetitions), "--json"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", help="path of the built embcomp_train_bench")
    parser.add_argument("--threads", default="2", help="comma-separated thread counts")
    parser.add_argument("--models", default="dlrm", help="comma-separated, from dlrm, wdl, dcn")
    parser.add_argument("--optimizers", default="sgd", help="comma-separated, from sgd, adam")
    parser.add_argument("--peer", choices=sorted(GOAL_RATIO), default="current")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--repetitions", type=int, default=5, help="measurements per side")
    parser.add_argument("--rounds", type=int, default=1,
                        help="embcomp-then-PyTorch rounds; the median ratio is reported")
    parser.add_argument("--wait-policy", default="passive",
                        help="OMP_WAIT_POLICY for both sides ('' leaves the environment as is)")
    args = parser.parse_args()

    python = peer_env.ensure() if args.peer == "current" else "/usr/bin/python3"
    env = dict(os.environ)
    if args.wait_policy:
        env["OMP_WAIT_POLICY"] = args.wait_policy
    thread_counts = [int(t) for t in args.threads.split(",")]
    cells = [(m, o, t) for m in args.models.split(",") for o in args.optimizers.split(",")
             for t in thread_counts]
    results = {cell: [] for cell in cells}
    for _ in range(args.rounds):
        for model, optimizer, threads in cells:
            ours = run_embcomp(args.bench, model, optimizer, threads, args.min_time,
                               args.repetitions, env)
            peer = run_torch(python, model, optimizer, threads, ours["table_rows"],
                             args.min_time, args.repetitions, env)
            results[(model, optimizer, threads)].append((ours, peer))

    goal = GOAL_RATIO[args.peer]
    torch_version = next(iter(results.values()))[0][1]["torch"]
    print(f"\nbatch 128, dim 16, hash 5x; samples/s = median of {args.repetitions} measurements; "
          f"peer torch {torch_version}; OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(unset)')}")
    print(f"{'model':>5s} {'optim':>5s} {'thr':>3s} {'round':>5s} {'embcomp':>10s} "
          f"{'pytorch':>10s} {'ratio':>7s}")
    met = True
    for (model, optimizer, threads), runs in results.items():
        ratios = []
        for i, (ours, peer) in enumerate(runs):
            ratios.append(ours["samples_per_s"] / peer["samples_per_s"])
            print(f"{model:>5s} {optimizer:>5s} {threads:3d} {i + 1:5d} "
                  f"{ours['samples_per_s']:10.0f} {peer['samples_per_s']:10.0f} {ratios[-1]:7.2f}")
        ratio = statistics.median(ratios)
        met = met and ratio >= goal
        print(f"{'':21s} median ratio {ratio:5.2f}  goal >= {goal:g}x: "
              f"{'met' if ratio >= goal else 'MISSED'}")
    print("\nall goals met" if met else "\nsome goals missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
