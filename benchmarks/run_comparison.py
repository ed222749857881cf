#!/usr/bin/python3
"""embcomp vs the raw gather, PyTorch and FBGEMM, at the same sizes, dims and batches.

Builds nothing. Give it a built embcomp_bench (configure with -DEMBCOMP_BUILD_BENCHMARKS=ON):

  python3 benchmarks/run_comparison.py build/benchmarks/embcomp_bench
  python3 benchmarks/run_comparison.py build/benchmarks/embcomp_bench --size small
  python3 benchmarks/run_comparison.py <bench> --peers debian    # Debian's torch only
  EMBCOMP_BENCH_LARGE_GIB=1 python3 benchmarks/run_comparison.py <bench> --dims 16

The peers (--peers): `current` (default) runs PyTorch 2.14.1 and FBGEMM 1.9.0 (fbgemm-gpu-cpu)
from PyPI, in the virtual environment benchmarks/peers/peer_env.py creates once (a few GB);
`debian` runs Debian's python3-torch (1.13, /usr/bin/python3) instead; `all` runs both. One
after the other, so that only one large table (plus its optimizer state) is in memory at a time:
  1. embcomp_bench for raw_gather, full lookup, full lookup+backward+Adam, full with SGD and
     with row-wise Adagrad, hash and qr lookup, at the chosen size and dims;
  2. benchmarks/peers/torch_embeddingbag.py per dim and torch: nn.EmbeddingBag(sum,
     sparse=True) forward, and forward + backward + torch.optim.SparseAdam;
  3. benchmarks/peers/fbgemm_tbe.py per dim (current peers): FBGEMM's table-batched embedding
     on the CPU, forward, and forward + backward with its fused EXACT_SGD and
     EXACT_ROWWISE_ADAGRAD;
then prints rows/s (each the best of --repetitions measurements, on both sides: on a shared
machine noise only ever slows a run down) and the ratios (the goals apply to the large size):
  full lookup / raw gather                       (goal >= 0.9)
  hash, qr lookup / raw gather of the full table (goal >= 1)
  full lookup+backward+Adam / PyTorch EmbeddingBag+SparseAdam (goal >= 3)
  full step with SGD, row-wise Adagrad / FBGEMM TBE with the same, fused (goal >= 1.5)
The large size (default) needs about 13 GiB of memory and a few minutes.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
import peer_env  # noqa: E402

TORCH_SCRIPT = os.path.join(HERE, "peers", "torch_embeddingbag.py")
FBGEMM_SCRIPT = os.path.join(HERE, "peers", "fbgemm_tbe.py")
GOALS = {"full_vs_raw": 0.9, "hashed_vs_raw": 1.0, "train_vs_torch": 3.0, "train_vs_tbe": 1.5}


def run_embcomp(bench, size, dims, min_time, repetitions, threads):
    dim_alt = "|".join(f"d{d}" for d in dims)
    # Reported names end in /real_time.
    pattern = (f"^(raw_gather|full/lookup|full/train|full/train_sgd|full/train_rowwise_adagrad|"
               f"hash/lookup|qr/lookup)/{size}/({dim_alt})/")
    cmd = [bench, f"--benchmark_filter={pattern}", "--benchmark_format=json",
           f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={repetitions}"]
    env = dict(os.environ, EMBCOMP_BENCH_THREADS=str(threads))
    if size == "small":
        env["EMBCOMP_BENCH_LARGE"] = "0"
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    # stderr (progress notes and embcomp_bench's own summary table) goes to the terminal.
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    if not out.strip():
        sys.exit("run_comparison: embcomp_bench ran no benchmark (see its message above)")
    rates = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        name = b["run_name"].removesuffix("/real_time")
        rates.setdefault(name, []).append(b["items_per_second"])
    # The best repetition: on a shared machine noise only ever slows a run down.
    return {name: max(v) for name, v in rates.items()}


def run_peer(python, script, size, dim, min_time, repetitions, threads):
    """One peer script's JSON result."""
    cmd = [python, script, "--size", size, "--dim", str(dim),
           "--threads", str(threads), "--min-time", str(min_time),
           "--repetitions", str(repetitions), "--json"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", help="path of the built embcomp_bench")
    parser.add_argument("--size", choices=["small", "large"], default="large")
    parser.add_argument("--dims", default="16,64", help="comma-separated, from 16 and 64")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--repetitions", type=int, default=5,
                        help="measurements per benchmark, on both sides; the best is kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peers", choices=["current", "debian", "all"], default="current",
                        help="PyPI's torch 2.14.1 + FBGEMM (created once), Debian's torch, or both")
    args = parser.parse_args()
    dims = [int(d) for d in args.dims.split(",")]

    # (label, python) of each PyTorch peer; FBGEMM runs in the current peers' environment.
    torches = []
    current = peer_env.ensure() if args.peers in ("current", "all") else None
    if current:
        torches.append(("torch 2.14.1", current))
    if args.peers in ("debian", "all"):
        torches.append(("torch (Debian)", "/usr/bin/python3"))

    ours = run_embcomp(args.bench, args.size, dims, args.min_time, args.repetitions, args.threads)
    peer_args = (args.min_time, args.repetitions, args.threads)
    peers = {d: {label: run_peer(python, TORCH_SCRIPT, args.size, d, *peer_args)
                 for label, python in torches} for d in dims}
    if current:
        for d in dims:
            peers[d]["fbgemm"] = run_peer(current, FBGEMM_SCRIPT, args.size, d, *peer_args)

    def rate(name):
        return ours.get(name, 0.0)

    def ratio(a, b):
        return a / b if a > 0 and b > 0 else float("nan")

    print(f"\nsize {args.size}, batch 4096 x 26 lookups, {args.threads} threads; rows/s = lookups/s")
    print(f"{'':56s} {'rows/s':>12s} {'ratio':>8s} {'goal':>6s}")
    met = True
    for d in dims:
        # The baseline runs before and after the methods; use the mean of the two.
        raws = [r for r in (rate(f"raw_gather/{args.size}/d{d}"),
                            rate(f"raw_gather/{args.size}/d{d}/after")) if r > 0]
        raw = sum(raws) / len(raws) if raws else 0.0
        full = {op: rate(f"full/{op}/{args.size}/d{d}")
                for op in ("lookup", "train", "train_sgd", "train_rowwise_adagrad")}
        print(f"-- dim {d} --")
        print(f"{'raw gather (plain loop, fp32 table)':56s} {raw:12.4g}")
        rows = [("embcomp full lookup / raw gather", full["lookup"], raw, GOALS["full_vs_raw"])]
        for key in ("hash", "qr"):
            r = rate(f"{key}/lookup/{args.size}/d{d}")
            if r > 0:
                rows.append((f"embcomp {key} lookup / raw gather of full", r, raw,
                             GOALS["hashed_vs_raw"]))
        peer_rows = []
        for label, _ in torches:
            t = peers[d][label]
            rows.append((f"embcomp full lookup / {label} forward", full["lookup"],
                         t.get("forward_rows_per_s", 0.0), None))
            rows.append((f"embcomp full lkp+bwd+Adam / {label} +SparseAdam", full["train"],
                         t.get("train_rows_per_s", 0.0), GOALS["train_vs_torch"]))
            peer_rows += [(f"  {label} EmbeddingBag forward", t.get("forward_rows_per_s", 0.0)),
                          (f"  {label} fwd+bwd+SparseAdam", t.get("train_rows_per_s", 0.0))]
        if current:
            f = peers[d]["fbgemm"]
            rows.append(("embcomp full lookup / FBGEMM TBE forward", full["lookup"],
                         f.get("forward_rows_per_s", 0.0), None))
            for op, name in (("sgd", "SGD"), ("rowwise_adagrad", "row-wise Adagrad")):
                rows.append((f"embcomp full step {name} / FBGEMM TBE", full[f"train_{op}"],
                             f.get(f"train_{op}_rows_per_s", 0.0), GOALS["train_vs_tbe"]))
                peer_rows.append((f"  FBGEMM TBE fwd+bwd, fused {name}",
                                  f.get(f"train_{op}_rows_per_s", 0.0)))
            peer_rows.insert(0, ("  FBGEMM TBE forward", f.get("forward_rows_per_s", 0.0)))
        for label, num, den, goal in rows:
            if args.size != "large":
                goal = None  # the goals are stated for the ~4 GiB tables
            q = ratio(num, den)
            ok = "" if goal is None else ("met" if q >= goal else "MISSED")
            if goal is not None and not q >= goal:
                met = False
            print(f"{label:56s} {num:12.4g} {q:8.3f} {ok:>6s}")
        for label, value in peer_rows:
            print(f"{label:56s} {value:12.4g}")
    if args.size == "large":
        print("\nall goals met" if met else "\nsome goals missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
