#!/usr/bin/env bash
# Installs the Debian packages embcomp needs to build and test, and only those that are
# missing. Silent when everything is already installed. Uses sudo only when not root.
# (OpenMP comes with g++ as libgomp. clang 14 with its runtime libraries (libFuzzer, the
# sanitizers) and libomp (with Archer) build the fuzz targets and the ThreadSanitizer tests.
# The Python package's extension and tests take pybind11, the Python headers, NumPy, pytest and
# PyTorch (1.13, for embcomp.torch's tests) from Debian, for Debian's python3.)
set -euo pipefail

packages=(cmake g++ make ninja-build libeigen3-dev libxxhash-dev catch2 libbenchmark-dev libcli11-dev
          nlohmann-json3-dev gnuplot-nox clang libclang-rt-14-dev libomp-14-dev
          python3-dev pybind11-dev python3-numpy python3-pytest python3-torch)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]}, and apt-get is not available (Debian 12 expected)" >&2
  exit 1
fi

as_root=(env DEBIAN_FRONTEND=noninteractive)
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
