"""Test AUC against table memory for a few methods: the suite's plot, from Python.

    python3 python/examples/plot_auc_memory.py --methods hash qr cafe --ratios 10 100 1000

Trains examples/torch_dlrm.py's model once per (method, ratio), and once with the uncompressed
nn.EmbeddingBag, then plots test AUC against the table's bytes (log scale) to auc_memory.png
with matplotlib (or prints the table only, where matplotlib is not installed).
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import torch_dlrm  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["hash", "qr", "cafe"])
    parser.add_argument("--ratios", nargs="+", type=float, default=[10, 100, 1000])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", default="auc_memory.png")
    args = parser.parse_args(argv)

    common = ["--rows", str(args.rows)]
    results = [torch_dlrm.main(["--method", "torch", *common])]
    for method in args.methods:
        for ratio in args.ratios:
            results.append(torch_dlrm.main(["--method", method, "--ratio", str(ratio), *common]))
    print(f"{'method':>10} {'ratio':>9} {'bytes':>12} {'test AUC':>9}")
    for r in results:
        print(f"{r['method']:>10} {r['ratio']:>9.1f} {r['bytes']:>12} {r['auc']:>9.4f}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return results
    figure, axes = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in results):
        points = sorted((r["bytes"], r["auc"]) for r in results if r["method"] == method)
        axes.plot(*zip(*points), marker="o", label=method)
    axes.axhline(results[0]["bayes_auc"], color="grey", linestyle=":", label="Bayes")
    axes.set_xscale("log")
    axes.set_xlabel("table bytes")
    axes.set_ylabel("test AUC")
    axes.legend()
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
