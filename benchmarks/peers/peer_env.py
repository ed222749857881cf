#!/usr/bin/env python3
"""The Python environment of the current peers: a virtual environment with torch and
fbgemm-gpu-cpu from PyPI, pinned to versions that load together (fbgemm-gpu-cpu 1.9.0 loads
under torch 2.14.1, not under 2.15). Created once, then reused; prints its python's path.

  python3 benchmarks/peers/peer_env.py            # create if missing, print the python
  python3 benchmarks/peers/peer_env.py --check    # print it only if it is ready (exit 1 if not)

The folder is $EMBCOMP_PEER_VENV, or ~/.cache/embcomp/peers-<versions>. The download is large
(PyPI's torch wheel brings the CUDA libraries, about 4 GB installed) and is not part of CI.
Benchmark scripts import ensure() from here.
"""
import argparse
import os
import subprocess
import sys

PINS = ["torch==2.14.1", "fbgemm-gpu-cpu==1.9.0", "numpy"]
TAG = "torch2.14.1-fbgemm1.9.0"


def venv_dir():
    default = os.path.join(os.path.expanduser("~"), ".cache", "embcomp", f"peers-{TAG}")
    return os.environ.get("EMBCOMP_PEER_VENV", default)


def python_of(folder):
    return os.path.join(folder, "bin", "python")


def ready(folder):
    """Whether the environment imports both peers (a half-finished install does not)."""
    python = python_of(folder)
    if not os.path.exists(python):
        return False
    probe = "import torch, fbgemm_gpu; assert torch.__version__.startswith('2.14.1')"
    return subprocess.run([python, "-c", probe], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def ensure(base_python="/usr/bin/python3"):
    """The python of the peers' environment, created (and the pins installed) if not ready."""
    folder = venv_dir()
    if ready(folder):
        return python_of(folder)
    print(f"peer_env: creating {folder} ({', '.join(PINS)}; a few GB from PyPI, once)",
          file=sys.stderr, flush=True)
    subprocess.run([base_python, "-m", "venv", folder], check=True)
    subprocess.run([python_of(folder), "-m", "pip", "install", "--progress-bar", "off", *PINS],
                   check=True, stdout=sys.stderr)
    if not ready(folder):
        sys.exit(f"peer_env: {folder} was installed but does not import torch 2.14.1 and fbgemm_gpu")
    return python_of(folder)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="do not create; exit 1 if missing")
    args = parser.parse_args()
    if args.check:
        folder = venv_dir()
        if not ready(folder):
            print(f"peer_env: {folder} is not ready", file=sys.stderr)
            return 1
        print(python_of(folder))
        return 0
    print(ensure())
    return 0


if __name__ == "__main__":
    sys.exit(main())
